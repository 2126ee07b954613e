/**
 * The one exchange pipeline every protocol runs a request through:
 *
 *   admit → decide → settle review → protocol check → record → count → forward or refuse
 *
 * Adapters (runtime/protocols/{postgres,http,kubernetes,mcp}) build the request from
 * the wire, hand it in with their hooks (refusal rendering, the protocol check, whether a read may be
 * staged), and forward or refuse on the result. They never call the engine or the recorder for a
 * decision themselves.
 *
 * Audit before action, the one meaning every protocol shares:
 * - The decision record is written once the review is settled and the protocol check has run, so it
 *   names the final effect: `review` with the approval or grant that let it through (`approval`), a
 *   `review` nobody approved, `deny`, or `deny` with the check's reason ("refused by masking: ...")
 *   when policy allowed what the protocol could not let through; the simulator (replay.ts
 *   refusedAfterDecision) reads that prefix and repeats such a refusal under the same masks. One record per request, never revised.
 * - The record is durable before the request reaches the backend. The one exception is staged: a
 *   request that changes nothing (a GET, a read-only statement) may go out once its record is
 *   written (the operating system has it, so it survives the gateway dying) while the flush
 *   completes, and no byte of its answer reaches the agent until the record is durable.
 * - A refusal is sent only after its record is durable; if the record cannot be written, the agent
 *   gets the evidence failure instead (failed_precondition), never a silent refusal.
 * - Every recorded decision is counted (metrics `observeDecision`) under the recorded effect, once
 *   its record is written; its duration runs from admission to the record written.
 *
 * Fast path: an allowed request with no review, a synchronous (or no) check and an open session
 * returns its result synchronously; only the recorder's own promises (`written`, `durable`) are
 * left to await, and the adapter awaits exactly the one it needs.
 */
import { decide } from '../engine/decide.ts';
import type { Decision } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { CanonicalFragment } from '../encoding/canonical.ts';
import { PortcullisError } from '../errors.ts';
import { settleReview } from '../gateway/review.ts';
import type { Coverage } from '../approvals/types.ts';
import { encodedDecision } from './encoded.ts';
import { flushQueuedResults } from './results.ts';
import type { RecordDecision } from '../recording/recorder.ts';
import type { Allowed, ExchangeEnv, ExchangeInput, ExchangeResult, Refused } from './types.ts';

/** Admission: a gateway that cannot write evidence lets nothing through. Undefined: admitted. */
export function admit(env: Pick<ExchangeEnv, 'recorder'>): PortcullisError | undefined {
  if (env.recorder.healthy()) return undefined;
  return new PortcullisError('failed_precondition', 'the evidence store cannot record right now, so no request is let through', { details: { status: 503 } });
}

function evidenceFailure(cause: unknown): PortcullisError {
  return new PortcullisError('failed_precondition', 'the decision could not be recorded, so the request is refused', { cause, details: { status: 503 } });
}

function durabilityFailure(cause: unknown): PortcullisError {
  return new PortcullisError('failed_precondition', 'the decision could not be made durable, so the answer is withheld', { cause, details: { status: 503 } });
}

/** Counts a recorded decision once its record is written (module level: nothing made per statement). */
function counted(env: ExchangeEnv, effect: string, target: string, protocol: string, started: number): void {
  env.metrics?.observeDecision({ effect, target, protocol, durationMs: performance.now() - started });
}

function toDurabilityFailure(error: unknown): never {
  throw durabilityFailure(error);
}

function ignore(): undefined {
  return undefined;
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | undefined)?.then === 'function';

/** Run one request through the pipeline. Synchronous on the fast path (see the module header). */
export function runExchange<R extends Request>(env: ExchangeEnv, x: ExchangeInput<R>): ExchangeResult | Promise<ExchangeResult> {
  const started = x.started ?? performance.now();
  const refused = admit(env);
  if (refused) return { allowed: false, error: refused };
  const decision = x.decided?.decision ?? decide(x.bundle, x.request);
  let session: string | Promise<string>;
  try {
    session = typeof x.session === 'function' ? x.session() : x.session;
  } catch (error) {
    return { allowed: false, error: (x.evidenceFailure ?? evidenceFailure)(error), decision };
  }
  if (decision.effect === 'review' || isPromise(session)) return slowPath(env, x, decision, session, started);
  if (decision.effect === 'deny') return record(env, x, session, decision, x.refusal(decision), false, started);
  const checked = runCheck(x, decision);
  if (isPromise(checked)) return checked.then((refusal) => record(env, x, session as string, decision, refusal, true, started));
  return record(env, x, session, decision, checked, true, started);
}

/** A check that throws refuses (fail closed), and its refusal is recorded like any other. */
function runCheck<R extends Request>(x: ExchangeInput<R>, decision: Decision): PortcullisError | undefined | Promise<PortcullisError | undefined> {
  if (!x.check) return undefined;
  try {
    const checked = x.check(decision);
    return isPromise(checked) ? checked.catch((error: unknown) => PortcullisError.from(error)) : checked;
  } catch (error) {
    return PortcullisError.from(error);
  }
}

/** Review, or a session still being opened: everything that has to wait, in pipeline order. */
async function slowPath<R extends Request>(env: ExchangeEnv, x: ExchangeInput<R>, decided: Decision, session: string | Promise<string>, started: number): Promise<ExchangeResult> {
  let decision = decided;
  let sessionId: string;
  try {
    sessionId = await session;
  } catch (error) {
    return { allowed: false, error: (x.evidenceFailure ?? evidenceFailure)(error), decision };
  }
  if (decision.effect === 'deny') return record(env, x, sessionId, decision, x.refusal(decision), false, started);
  if (decision.effect === 'review') {
    await x.bindForReview?.(decision);
    let coverage: Coverage | undefined;
    const reviewed = decision;
    const refusal = await settleReview(
      x.holdMs === undefined ? env : { ...(env.approvals ? { approvals: env.approvals } : {}), reviewHoldMs: x.holdMs },
      {
        subject: x.request.subject,
        sessionId,
        target: x.request.target,
        request: x.request,
        decision: reviewed,
        ...(x.reason ? { reason: x.reason } : {}),
        ...(x.onHold ? { onHold: x.onHold } : {}),
        onCovered: (c) => (coverage = c),
      },
      () => x.refusal(reviewed),
    );
    if (refusal) return record(env, x, sessionId, decision, refusal, false, started);
    // The record names what let the review through: the grant or one-shot approval, and its approvers.
    if (coverage) decision = { ...decision, approval: coverage };
  }
  return record(env, x, sessionId, decision, await runCheck(x, decision), true, started);
}

/**
 * Record and count. `policyAllowed`: the refusal (if any) is the protocol check's, so the record
 * reads `deny` with its reason; otherwise it is policy's own (deny, or a review not approved).
 */
function record<R extends Request>(
  env: ExchangeEnv,
  x: ExchangeInput<R>,
  sessionId: string,
  decided: Decision,
  refusal: PortcullisError | undefined,
  policyAllowed: boolean,
  started: number,
): ExchangeResult | Promise<Refused> {
  const decision: Decision = refusal && policyAllowed ? { ...decided, effect: 'deny', reason: `refused by ${x.checkName ?? 'the gateway'}: ${refusal.message}` } : decided;
  const target = x.request.target;
  const entry: RecordDecision = {
    sessionId,
    request: (x.recorded ?? x.request) as Request,
    decision,
    encodedDecision: encodingOf(x, decision),
  };
  // The statement hint describes the request as policy saw it; a check's refusal still records it.
  if (x.statement) entry.statement = x.statement;
  const protocol = x.request.protocol;
  const failed = x.evidenceFailure ?? evidenceFailure;
  // results waiting in the queue go to disk with this decision, in one group commit
  flushQueuedResults(env);
  if (refusal) {
    // A refusal goes out once its record is durable; a refusal that cannot be recorded is the evidence failure.
    let written;
    try {
      written = env.recorder.recordDecision(entry);
    } catch (error) {
      return Promise.resolve({ allowed: false, error: failed(error), decision });
    }
    return written.then(
      ({ seq }): Refused => {
        counted(env, decision.effect, target, protocol, started);
        return { allowed: false, error: refusal, decision, recorded: { sessionId, seq, target } };
      },
      (error: unknown): Refused => ({ allowed: false, error: failed(error), decision }),
    );
  }
  const staged = x.staged?.(decision) === true;
  // Inline (anonymous) callbacks on purpose: tsx keeps function names, so a named closure made per
  // statement costs a `__name` call on top of its allocation.
  let written: Promise<number>;
  let durable: Promise<unknown>;
  try {
    if (staged) {
      const s = env.recorder.recordDecisionStaged(entry);
      written = s.written.then(
        (r) => {
          counted(env, decision.effect, target, protocol, started);
          return r.seq;
        },
        (error: unknown) => {
          throw failed(error);
        },
      );
      durable = s.durable.catch(toDurabilityFailure);
      // awaited by the adapter before it answers; never an unhandled rejection meanwhile
      durable.catch(ignore);
    } else {
      written = env.recorder.recordDecision(entry).then(
        (r) => {
          counted(env, decision.effect, target, protocol, started);
          return r.seq;
        },
        (error: unknown) => {
          throw failed(error);
        },
      );
      durable = written;
    }
  } catch (error) {
    written = Promise.reject(failed(error));
    durable = written;
  }
  const allowed: Allowed = { allowed: true, decision, masks: decision.masks, evidence: { sessionId, target, written, durable, staged } };
  return allowed;
}

function encodingOf<R extends Request>(x: ExchangeInput<R>, decision: Decision): CanonicalFragment | undefined {
  if (x.decided && x.decided.decision === decision) return x.decided.encoded ?? encodedDecision(x.bundle, decision);
  // an approval is particular to one request: not worth caching its encoding
  return decision.approval ? undefined : encodedDecision(x.bundle, decision);
}
