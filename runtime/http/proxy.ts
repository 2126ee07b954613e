/**
 * One request to a `type: http` target: normalise, decide, record (durably), then forward and mask.
 * The request the engine sees and the request the upstream receives are built from the same
 * normalised path and parsed query, so there is no spelling that policy reads one way and the
 * upstream another.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { decide } from '../engine/decide.ts';
import type { Mask } from '../engine/decision.ts';
import type { HttpRequest } from '../engine/request.ts';
import { normalisePath, parseQuery } from '../requests/http.ts';
import { mediaType } from './headers.ts';
import { formMethodsOf, overrideOf, withoutMethodParameter } from './method-override.ts';
import { bodyBinding, hasRequestBody, meaningHeaders, readRequestBody } from './request-body.ts';
import { pendingAnswer, reviewWaitMs } from './review-wait.ts';
import type { ListenerContext } from './context.ts';
import type { Admitted } from './front.ts';
import { forward } from './forward.ts';
import { jsonMasker, type JsonMasker } from './masking/json-mask.ts';
import type { BodyMaskPolicy } from './masking/body.ts';
import { parseJsonPath } from './masking/json-path.ts';
import { settleReview } from '../gateway/review.ts';
import { refusalOf } from './problem.ts';
import { discard, sendMasked, sendUnmasked } from './respond.ts';
import { recordDecision, type RecordedExchange } from './sessions.ts';
import type { Dispatchers } from './upstream.ts';
import { reasonFromHeaders } from '../gateway/stated-reason.ts';

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
  const wireMethod = (req.method ?? 'GET').toUpperCase();
  const path = normalisePath(admitted.rest, upstream.paths);
  // A form may carry `_method`: it is read before deciding, and the bytes read are the bytes sent.
  const type = mediaType(req.headers['content-type']);
  let body: Buffer | undefined;
  if (wireMethod === 'POST' && (type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') && hasRequestBody(req)) {
    body = await readRequestBody(req, upstream.maxBodyBytes, upstream.name);
  }
  const override = overrideOf(wireMethod, req.headers, parseQuery(admitted.search), body ? formMethodsOf(type, body) : []);
  const method = override.method;
  // the override is applied, not forwarded: the query decided on is the query sent
  const search = withoutMethodParameter(admitted.search);
  if (body && type === 'application/x-www-form-urlencoded' && override.overridden) body = withoutFormMethod(body);
  const request: HttpRequest = {
    protocol: 'http',
    subject: { identity: subject.identity, groups: [...subject.groups] },
    target: upstream.name,
    at: ctx.now().toISOString(),
    method,
    path,
    query: parseQuery(search),
  };
  const decision = decide(bundle, request);
  if (decision.effect === 'review') {
    // An approval binds the body and the headers that change its meaning; approvers read the body, masked.
    const read = body ?? (await readRequestBody(req, upstream.maxBodyBytes, upstream.name));
    // a request without a body keeps none: the upstream is not sent an empty one
    if (hasRequestBody(req)) body = read;
    request.body = bodyBinding(read, req.headers['content-type'], decision.masks, env.maskKey);
    request.headers = meaningHeaders(req);
  }
  // A safe request without a body changes nothing upstream: it goes out once its record is written
  // (it survives the gateway dying) while the disk flush completes, and the answer is held until the
  // record is durable. Everything else waits for the flush before it is forwarded.
  const staged = decision.effect === 'allow' && (method === 'GET' || method === 'HEAD') && wireMethod === method && !hasRequestBody(req);
  state.exchange = await recordDecision(
    ctx,
    req.socket as Socket,
    bundle,
    subject,
    request,
    decision,
    () => ({ 'user-agent': String(req.headers['user-agent'] ?? '') }),
    staged,
  );
  if (decision.effect === 'review') {
    // The agent may say why in a `Portcullis-Reason` header; approvers see it.
    const reason = reasonFromHeaders(req.headers);
    const settings = { ...(ctx.approvals ? { approvals: ctx.approvals } : {}), reviewHoldMs: reviewWaitMs(req, ctx.reviewHoldMs ?? 0) };
    const refusal = await settleReview(settings, { subject: request.subject, sessionId: state.exchange.sessionId, target: request.target, request, decision, ...(reason ? { reason } : {}) }, () => refusalOf(decision));
    if (refusal) throw pendingAnswer(refusal);
  } else if (decision.effect !== 'allow') throw refusalOf(decision);

  const masking = maskingFor(decision.masks, env.maskKey);
  const sent = { dispatchers: env.dispatchers, upstream, req, path, search, forMasking: masking.masker.active, ...(override.overridden ? { method } : {}), ...(body ? { body } : {}) };
  const durable = state.exchange.durable;
  if (!durable) {
    const res0 = await forward(sent);
    if (!masking.masker.active) await sendUnmasked(res, res0, upstream, method);
    else state.maskedValues = await sendMasked(res, res0, upstream, method, bodyPolicy(upstream, masking));
    return;
  }
  // Staged: not one byte of the answer (nor of an error about it) before the record is durable.
  const hold = async (body?: Dispatcher.ResponseData['body']) => {
    try {
      await durable;
    } catch (error) {
      if (body) discard(body);
      if (!res.headersSent) res.setHeader('connection', 'close');
      throw error;
    }
  };
  try {
    const res0 = await forward(sent);
    if (!masking.masker.active) await sendUnmasked(res, res0, upstream, method, () => hold(res0.body));
    else state.maskedValues = await sendMasked(res, res0, upstream, method, bodyPolicy(upstream, masking), () => hold(res0.body));
  } catch (error) {
    // an upstream failure is answered only once the record is durable; if it cannot be, the 503 wins
    if (!res.headersSent) await hold();
    throw error;
  }
}

function withoutFormMethod(body: Buffer): Buffer {
  const params = new URLSearchParams(body.toString('utf8'));
  for (const k of [...params.keys()]) if (k === '_method' || k.startsWith('_method[')) params.delete(k);
  return Buffer.from(params.toString(), 'utf8');
}

interface Masking {
  masker: JsonMasker;
  fieldNames: string[];
}

/** Compiled maskers by masking key and mask list: a target's masks are the same request after request. */
const maskingCache = new WeakMap<Buffer, Map<string, Masking>>();
const MASKING_CACHE_MAX = 256;

export function maskingFor(masks: readonly Mask[], key: Buffer): Masking {
  let byMasks = maskingCache.get(key);
  if (!byMasks) maskingCache.set(key, (byMasks = new Map()));
  let id = '';
  for (const m of masks) id += `${m.kind}\0${m.pattern}\0${m.strategy}\n`;
  let masking = byMasks.get(id);
  if (!masking) {
    if (byMasks.size >= MASKING_CACHE_MAX) byMasks.clear();
    masking = { masker: jsonMasker(masks, key), fieldNames: fieldNamesOf(masks) };
    byMasks.set(id, masking);
  }
  return masking;
}

function bodyPolicy(upstream: Admitted['upstream'], masking: Masking): BodyMaskPolicy {
  const masker = masking.masker;
  return {
    target: upstream.name,
    transform: (v) => masker.apply(v),
    scrub: masker.scrub,
    detectors: masker.detectors,
    fieldNames: masking.fieldNames,
    passUnmaskedContentTypes: upstream.passUnmaskedContentTypes,
    limit: upstream.maxBodyBytes,
  };
}
