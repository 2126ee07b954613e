/**
 * One request to a `type: http` target: normalise, decide, record (durably), then forward and mask.
 * The request the engine sees and the request the upstream receives are built from the same
 * normalised path and parsed query, so there is no spelling that policy reads one way and the
 * upstream another.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { decide } from '../engine/decide.ts';
import type { Mask } from '../engine/decision.ts';
import type { HttpRequest } from '../engine/request.ts';
import { normalisePath, parseQuery } from '../requests/http.ts';
import type { ListenerContext } from './context.ts';
import type { Admitted } from './front.ts';
import { forward } from './forward.ts';
import { jsonMasker } from './masking/json-mask.ts';
import type { BodyMaskPolicy } from './masking/body.ts';
import { parseJsonPath } from './masking/json-path.ts';
import { settleReview } from '../gateway/review.ts';
import { refusalOf } from './problem.ts';
import { sendMasked, sendUnmasked } from './respond.ts';
import { recordDecision, type RecordedExchange } from './sessions.ts';
import type { Dispatchers } from './upstream.ts';

/** What every request handler shares for the listener's life. */
export interface ProxyEnv {
  dispatchers: Dispatchers;
  /** the gateway's masking key: hashes are keyed so they cannot be reversed by guessing */
  maskKey: Buffer;
}

export interface ExchangeState {
  exchange?: RecordedExchange;
  maskedValues: number;
}

/** Final member names of field masks (`$..email` -> email), for spotting JSON inside text. */
export function fieldNamesOf(masks: readonly Mask[]): string[] {
  const names = new Set<string>();
  for (const m of masks) {
    if (m.kind !== 'field') continue;
    const last = parseJsonPath(m.pattern).at(-1);
    const step = last?.kind === 'descend' ? last.then : last;
    if (step?.kind === 'child') names.add(step.name);
  }
  return [...names];
}

export async function proxyHttp(
  ctx: ListenerContext,
  env: ProxyEnv,
  req: IncomingMessage,
  res: ServerResponse,
  admitted: Admitted,
  state: ExchangeState,
): Promise<void> {
  const { bundle, subject, upstream } = admitted;
  const method = (req.method ?? 'GET').toUpperCase();
  const path = normalisePath(admitted.rest);
  const request: HttpRequest = {
    protocol: 'http',
    subject: { identity: subject.identity, groups: [...subject.groups] },
    target: upstream.name,
    at: ctx.now().toISOString(),
    method,
    path,
    query: parseQuery(admitted.search),
  };
  const decision = decide(bundle, request);
  state.exchange = await recordDecision(ctx, req.socket as Socket, bundle, subject, request, decision, {
    'user-agent': String(req.headers['user-agent'] ?? ''),
  });
  if (decision.effect === 'review') {
    // The agent may say why in an `X-Portcullis-Reason` header; approvers see it.
    const reason = String(req.headers['x-portcullis-reason'] ?? '');
    const refusal = await settleReview(ctx, { subject: request.subject, sessionId: state.exchange.sessionId, target: request.target, request, decision, ...(reason ? { reason } : {}) }, () => refusalOf(decision));
    if (refusal) throw refusal;
  } else if (decision.effect !== 'allow') throw refusalOf(decision);

  const masker = jsonMasker(decision.masks, env.maskKey);
  const res0 = await forward({ dispatchers: env.dispatchers, upstream, req, path, search: admitted.search, forMasking: masker.active });
  if (!masker.active) {
    await sendUnmasked(res, res0, upstream, method);
    return;
  }
  const policy: BodyMaskPolicy = {
    target: upstream.name,
    transform: (v) => masker.apply(v),
    scrub: masker.scrub,
    fieldNames: fieldNamesOf(decision.masks),
    passUnmaskedContentTypes: upstream.passUnmaskedContentTypes,
    limit: upstream.maxBodyBytes,
  };
  state.maskedValues = await sendMasked(res, res0, upstream, method, policy);
}
