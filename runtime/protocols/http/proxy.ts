/**
 * One request to a `type: http` target: built from the wire (request.ts), run through the exchange
 * core (decide, review, record durably, count), then forwarded and its answer masked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { Mask } from '../../engine/decision.ts';
import { refusalOf, runExchange, type ExchangeInput } from '../../exchange/index.ts';
import type { Bundle } from '../../bundle/model.ts';
import type { Decision } from '../../engine/decision.ts';
import type { HttpRequest } from '../../engine/request.ts';
import type { CanonicalFragment } from '../../encoding/canonical.ts';
import { bodyBinding, hasRequestBody, meaningHeaders, readRequestBody } from '../../http-transport/request-body.ts';
import { pendingAnswer, reviewWaitMs } from './review-wait.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Admitted } from '../../http-transport/front.ts';
import { forward, type ForwardOptions } from '../../http-transport/forward.ts';
import type { ExchangeState, ProxyEnv } from '../../http-transport/handler.ts';
import { jsonMasker, type JsonMasker } from '../../http-transport/masking/json-mask.ts';
import type { BodyMaskPolicy } from '../../http-transport/masking/body.ts';
import { fieldNamesOf } from '../../http-transport/masking/field-names.ts';
import { encodedHttpRequest, httpRequestOf, type BuiltHttpRequest } from './request.ts';
import { httpVerdict, type HttpVerdict } from './verdicts.ts';
import { discard, sendMasked, sendUnmasked } from '../../http-transport/respond.ts';
import { sessionFor } from '../../http-transport/session.ts';
import { reasonFromHeaders } from '../../gateway/stated-reason.ts';

export async function proxyHttp(ctx: ListenerContext, env: ProxyEnv, req: IncomingMessage, res: ServerResponse, admitted: Admitted, state: ExchangeState): Promise<void> {
  const { bundle, upstream } = admitted;
  const building = httpRequestOf(ctx, req, admitted);
  // a request without a form body to read is built without a promise
  const built = building instanceof Promise ? await building : building;
  const { request, method, path, search } = built;
  // a repeated allowed request reuses its verdict (verdicts.ts); a review is bound and decided as before
  const x = new HttpExchange(ctx, env, req, admitted, built, httpVerdict(bundle, request, search));
  const run = runExchange(ctx, x);
  // the fast path (no review, nothing to wait for) comes back without a promise: no await for it
  const result = run instanceof Promise ? await run : run;
  if (!result.allowed) {
    if (result.recorded) state.exchange = result.recorded;
    throw pendingAnswer(result.error);
  }
  const evidence = result.evidence;
  state.exchange = { sessionId: evidence.sessionId, seq: await evidence.written, target: evidence.target };

  const masking = maskingFor(result.masks, env.maskKey);
  const sent: ForwardOptions = { dispatchers: env.dispatchers, upstream, req, path, search, forMasking: masking.masker.active };
  if (built.overridden) sent.method = method;
  if (x.body) sent.body = x.body;
  if (!evidence.staged) {
    const res0 = await forward(sent);
    if (!masking.masker.active) await sendUnmasked(res, res0, upstream, method);
    else state.maskedValues = await sendMasked(res, res0, upstream, method, bodyPolicy(upstream, masking));
    return;
  }
  // Staged: not one byte of the answer (nor of an error about it) before the record is durable.
  const held = new StagedHold(evidence.durable, res);
  try {
    const res0 = await forward(sent);
    held.body = res0.body;
    if (!masking.masker.active) await sendUnmasked(res, res0, upstream, method, held.hold);
    else state.maskedValues = await sendMasked(res, res0, upstream, method, bodyPolicy(upstream, masking), held.hold);
  } catch (error) {
    // an upstream failure is answered only once the record is durable; if it cannot be, the 503 wins
    if (!res.headersSent) {
      held.body = undefined;
      await held.hold();
    }
    throw error;
  }
}

/**
 * One HTTP request's input to the exchange core. A class, not an object literal of arrow functions:
 * tsx compiles with keepNames, which costs an Object.defineProperty for every named closure made per
 * request; these methods are made once.
 */
class HttpExchange implements ExchangeInput<HttpRequest> {
  readonly bundle: Bundle;
  readonly request: HttpRequest;
  readonly decided: HttpVerdict;
  /** not a review: nothing is added to the request before it is recorded, so it is encoded here directly */
  readonly recorded?: CanonicalFragment;
  readonly refusal = refusalOf;
  /** the body as forwarded: a form read for its `_method`, or the body a review bound */
  body: Buffer | undefined;
  /** the session's attributes, read only when this request opens one (assigned, so not a named closure) */
  private readonly attributes: () => Record<string, string>;

  constructor(
    private readonly ctx: ListenerContext,
    private readonly env: ProxyEnv,
    private readonly req: IncomingMessage,
    private readonly admitted: Admitted,
    private readonly built: BuiltHttpRequest,
    verdict: HttpVerdict,
  ) {
    this.bundle = admitted.bundle;
    this.request = built.request;
    this.decided = verdict;
    if (verdict.decision.effect !== 'review') this.recorded = encodedHttpRequest(built.request);
    this.body = built.body;
    this.attributes = () => ({ 'user-agent': String(req.headers['user-agent'] ?? '') });
  }

  session(): string | Promise<string> {
    return sessionFor(this.ctx, this.req.socket as Socket, this.bundle, this.admitted.subject, this.request, this.attributes);
  }

  // The agent may say why in a `Portcullis-Reason` header; approvers see it. Read only for a review.
  get reason(): string | undefined {
    return reasonFromHeaders(this.req.headers);
  }

  get holdMs(): number {
    return reviewWaitMs(this.req, this.ctx.reviewHoldMs ?? 0);
  }

  async bindForReview(decision: Decision): Promise<void> {
    const { req, admitted, request } = this;
    const upstream = admitted.upstream;
    // An approval binds the body and the headers that change its meaning; approvers read the body, masked.
    const read = this.body ?? (await readRequestBody(req, upstream.maxBodyBytes, upstream.name));
    // a request without a body keeps none: the upstream is not sent an empty one
    if (hasRequestBody(req)) this.body = read;
    request.body = bodyBinding(read, req.headers['content-type'], decision.masks, this.env.maskKey);
    request.headers = meaningHeaders(req);
  }

  /**
   * A safe request without a body changes nothing upstream: it goes out once its record is written
   * (it survives the gateway dying) while the disk flush completes, and the answer is held until the
   * record is durable. Everything else waits for the flush before it is forwarded.
   */
  staged(decision: Decision): boolean {
    const { method, wireMethod } = this.built;
    return decision.effect === 'allow' && (method === 'GET' || method === 'HEAD') && wireMethod === method && !hasRequestBody(this.req);
  }
}

/**
 * The wait before a staged request's answer goes out: the record durable, or the answer withheld
 * (its body dropped, the connection closed). A class rather than a closure made per request: tsx
 * compiles with keepNames, which costs an Object.defineProperty for every named closure.
 */
class StagedHold {
  body: Dispatcher.ResponseData['body'] | undefined;
  readonly hold: () => Promise<void>;
  constructor(
    private readonly durable: Promise<unknown>,
    private readonly res: ServerResponse,
  ) {
    this.hold = () => this.settle();
  }

  private async settle(): Promise<void> {
    try {
      await this.durable;
    } catch (error) {
      if (this.body) discard(this.body);
      if (!this.res.headersSent) this.res.setHeader('connection', 'close');
      throw error;
    }
  }
}

interface Masking {
  masker: JsonMasker;
  fieldNames: string[];
  /** the body policy per upstream, built once: its transform is not a closure made per request */
  policies: WeakMap<Admitted['upstream'], BodyMaskPolicy>;
}

/** Compiled maskers by masking key and mask list: a target's masks are the same request after request. */
const maskingCache = new WeakMap<Buffer, Map<string, Masking>>();
const MASKING_CACHE_MAX = 256;
/**
 * A cached verdict hands out the same masks array every time: found by identity first, without
 * building the text key. Keyed by the array, then the masking key, so a different key never shares.
 */
const maskingByList = new WeakMap<readonly Mask[], { key: Buffer; masking: Masking }>();

export function maskingFor(masks: readonly Mask[], key: Buffer): Masking {
  const known = maskingByList.get(masks);
  if (known && known.key === key) return known.masking;
  let byMasks = maskingCache.get(key);
  if (!byMasks) maskingCache.set(key, (byMasks = new Map()));
  let id = '';
  for (const m of masks) id += `${m.kind}\0${m.pattern}\0${m.strategy}\n`;
  let masking = byMasks.get(id);
  if (!masking) {
    if (byMasks.size >= MASKING_CACHE_MAX) byMasks.clear();
    masking = { masker: jsonMasker(masks, key), fieldNames: fieldNamesOf(masks), policies: new WeakMap() };
    byMasks.set(id, masking);
  }
  // only a frozen list can be trusted to stay what it was when looked up by identity
  if (Object.isFrozen(masks)) maskingByList.set(masks, { key, masking });
  return masking;
}

function bodyPolicy(upstream: Admitted['upstream'], masking: Masking): BodyMaskPolicy {
  let policy = masking.policies.get(upstream);
  if (!policy) {
    const masker = masking.masker;
    policy = {
      target: upstream.name,
      transform: masker.apply.bind(masker),
      scrub: masker.scrub,
      detectors: masker.detectors,
      fieldNames: masking.fieldNames,
      passUnmaskedContentTypes: upstream.passUnmaskedContentTypes,
      limit: upstream.maxBodyBytes,
    };
    masking.policies.set(upstream, policy);
  }
  return policy;
}
