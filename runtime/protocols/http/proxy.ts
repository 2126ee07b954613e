/**
 * One request to a `type: http` target: built from the wire (request.ts), run through the exchange
 * core (decide, review, record durably, count), then forwarded and its answer masked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { Mask } from '../../engine/decision.ts';
import { refusalOf, runExchange } from '../../exchange/index.ts';
import { bodyBinding, hasRequestBody, meaningHeaders, readRequestBody } from '../../http-transport/request-body.ts';
import { pendingAnswer, reviewWaitMs } from './review-wait.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Admitted } from '../../http-transport/front.ts';
import { forward } from '../../http-transport/forward.ts';
import type { ExchangeState, ProxyEnv } from '../../http-transport/handler.ts';
import { jsonMasker, type JsonMasker } from '../../http-transport/masking/json-mask.ts';
import type { BodyMaskPolicy } from '../../http-transport/masking/body.ts';
import { fieldNamesOf } from '../../http-transport/masking/field-names.ts';
import { httpRequestOf } from './request.ts';
import { discard, sendMasked, sendUnmasked } from '../../http-transport/respond.ts';
import { sessionFor } from '../../http-transport/session.ts';
import { reasonFromHeaders } from '../../gateway/stated-reason.ts';

export type { ExchangeState, ProxyEnv };
export { fieldNamesOf };

export async function proxyHttp(ctx: ListenerContext, env: ProxyEnv, req: IncomingMessage, res: ServerResponse, admitted: Admitted, state: ExchangeState): Promise<void> {
  const { bundle, subject, upstream } = admitted;
  const built = await httpRequestOf(ctx, req, admitted);
  const { request, method, wireMethod, path, search } = built;
  let body = built.body;
  const run = runExchange(ctx, {
    bundle,
    request,
    session: () => sessionFor(ctx, req.socket as Socket, bundle, subject, request, () => ({ 'user-agent': String(req.headers['user-agent'] ?? '') })),
    refusal: refusalOf,
    bindForReview: async (decision) => {
      // An approval binds the body and the headers that change its meaning; approvers read the body, masked.
      const read = body ?? (await readRequestBody(req, upstream.maxBodyBytes, upstream.name));
      // a request without a body keeps none: the upstream is not sent an empty one
      if (hasRequestBody(req)) body = read;
      request.body = bodyBinding(read, req.headers['content-type'], decision.masks, env.maskKey);
      request.headers = meaningHeaders(req);
    },
    // The agent may say why in a `Portcullis-Reason` header; approvers see it.
    ...reasonOf(req),
    holdMs: reviewWaitMs(req, ctx.reviewHoldMs ?? 0),
    // A safe request without a body changes nothing upstream: it goes out once its record is written
    // (it survives the gateway dying) while the disk flush completes, and the answer is held until the
    // record is durable. Everything else waits for the flush before it is forwarded.
    staged: (decision) => decision.effect === 'allow' && (method === 'GET' || method === 'HEAD') && wireMethod === method && !hasRequestBody(req),
  });
  // the fast path (no review, nothing to wait for) comes back without a promise: no await for it
  const result = run instanceof Promise ? await run : run;
  if (!result.allowed) {
    if (result.recorded) state.exchange = result.recorded;
    throw pendingAnswer(result.error);
  }
  const evidence = result.evidence;
  state.exchange = { sessionId: evidence.sessionId, seq: await evidence.written, target: evidence.target };

  const masking = maskingFor(result.masks, env.maskKey);
  const sent = { dispatchers: env.dispatchers, upstream, req, path, search, forMasking: masking.masker.active, ...(built.overridden ? { method } : {}), ...(body ? { body } : {}) };
  if (!evidence.staged) {
    const res0 = await forward(sent);
    if (!masking.masker.active) await sendUnmasked(res, res0, upstream, method);
    else state.maskedValues = await sendMasked(res, res0, upstream, method, bodyPolicy(upstream, masking));
    return;
  }
  const durable = evidence.durable;
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

function reasonOf(req: IncomingMessage): { reason?: string } {
  const reason = reasonFromHeaders(req.headers);
  return reason ? { reason } : {};
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
