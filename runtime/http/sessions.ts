/**
 * HTTP has no session of its own, so a session is what PostgreSQL's is: one agent connection. Each
 * keep-alive connection opens one recorded session per (identity, target) on its first request, and
 * ends them when the socket closes; every request on it is a decision + result pair. An upgraded
 * exec/attach stream keeps its session until the stream ends.
 */
import type { Socket } from 'node:net';
import type { Decision } from '../engine/decision.ts';
import type { HttpRequest, KubernetesRequest } from '../engine/request.ts';
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import type { ListenerContext, ListenerSubject } from './context.ts';
import { CanonicalFragment } from '../evidence/canonical.ts';

/**
 * A target's requests get the same few decisions over and over (same rules, masks and reason). Like
 * the PostgreSQL gateway's verdict cache, each distinct decision of a bundle is encoded once and the
 * text spliced into its records; a cached encoding is reused only for a decision equal in every field.
 */
const encodedDecisions = new WeakMap<Bundle, Map<string, { decision: Decision; encoded: CanonicalFragment }>>();
const ENCODED_DECISIONS_MAX = 1024;

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameDecision(a: Decision, b: Decision): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const x = (a as unknown as Record<string, unknown>)[k];
    const y = (b as unknown as Record<string, unknown>)[k];
    if (x === y) continue;
    if (Array.isArray(x) && Array.isArray(y) && sameItems(x, y)) continue;
    return false;
  }
  return true;
}

export function encodedDecision(bundle: Bundle, decision: Decision): CanonicalFragment {
  let cache = encodedDecisions.get(bundle);
  if (!cache) encodedDecisions.set(bundle, (cache = new Map()));
  const hit = cache.get(decision.reason);
  if (hit && sameDecision(hit.decision, decision)) return hit.encoded;
  const encoded = new CanonicalFragment(decision);
  if (cache.size >= ENCODED_DECISIONS_MAX) cache.clear();
  // a snapshot, so a caller changing its decision later cannot make the cached text stale
  cache.set(decision.reason, { decision: { ...decision, rules: [...decision.rules], masks: [...decision.masks] }, encoded });
  return encoded;
}

interface SocketSessions {
  byKey: Map<string, Promise<string>>;
}

const perSocket = new WeakMap<Socket, SocketSessions>();

export interface RecordedExchange {
  sessionId: string;
  seq: number;
  /** the target, for the masked-values metric */
  target?: string;
  /**
   * Staged recording only: settles once the decision record is durable. The record was written
   * (the operating system has it) before the request went upstream; nothing of the answer may reach
   * the agent before this resolves, and if it rejects the answer is withheld (503, connection closed).
   */
  durable?: Promise<void>;
}

function sessionsOf(ctx: ListenerContext, socket: Socket): SocketSessions {
  let s = perSocket.get(socket);
  if (!s) {
    const created: SocketSessions = { byKey: new Map() };
    perSocket.set(socket, created);
    socket.once('close', () => {
      // the connection's results belong before its sessions' ends
      void flushResults(ctx);
      for (const id of created.byKey.values()) {
        id.then((sessionId) => ctx.recorder.endSession({ sessionId, reason: 'client-closed' })).catch((error: unknown) =>
          ctx.log('http.session-end-failed', { error: String(error) }),
        );
      }
    });
    s = created;
  }
  return s;
}

/**
 * Audit before action: resolves once the decision is durable, else throws `failed_precondition`.
 * `staged` (safe requests only): resolves once the record is written, with `durable` to hold the
 * answer on, the way the PostgreSQL gateway runs a read while its record is flushed.
 */
export async function recordDecision(
  ctx: ListenerContext,
  socket: Socket,
  bundle: Bundle,
  subject: ListenerSubject,
  request: HttpRequest | KubernetesRequest,
  decision: Decision,
  attributes: Record<string, string> | (() => Record<string, string>),
  staged = false,
): Promise<RecordedExchange> {
  if (!ctx.recorder.healthy()) {
    throw new PortcullisError('failed_precondition', 'the evidence store cannot record right now, so no request is let through', {
      details: { status: 503 },
    });
  }
  const started = performance.now();
  const sessions = sessionsOf(ctx, socket);
  const key = `${subject.identity}\0${request.target}`;
  let id = sessions.byKey.get(key);
  if (!id) {
    id = ctx.recorder
      .startSession({
        identity: subject.identity,
        ...(subject.kind ? { kind: subject.kind } : {}),
        groups: [...subject.groups],
        ...(subject.tokenSubject ? { tokenSubject: subject.tokenSubject } : {}),
        ...(subject.issuer ? { issuer: subject.issuer } : {}),
        target: request.target,
        protocol: request.protocol,
        client: { address: socket.remoteAddress ?? 'unknown', ...(socket.remotePort ? { port: socket.remotePort } : {}) },
        revision: bundle.revision,
        attributes: typeof attributes === 'function' ? attributes() : attributes,
      })
      .then((r) => r.sessionId);
    sessions.byKey.set(key, id);
    id.catch(() => sessions.byKey.delete(key));
  }
  try {
    const sessionId = await id;
    const entry = { sessionId, request, decision, encodedDecision: encodedDecision(bundle, decision) };
    void flushResults(ctx);
    if (staged) {
      const recorded = ctx.recorder.recordDecisionStaged(entry);
      const { seq } = await recorded.written;
      const durable = recorded.durable.catch((error: unknown) => {
        throw new PortcullisError('failed_precondition', 'the decision could not be made durable, so the answer is withheld', {
          cause: error,
          details: { status: 503 },
        });
      });
      // observed by the caller before it answers; never an unhandled rejection meanwhile
      durable.catch(() => undefined);
      observe(ctx, request, decision, started);
      return { sessionId, seq, durable, target: request.target };
    }
    const { seq } = await ctx.recorder.recordDecision(entry);
    observe(ctx, request, decision, started);
    return { sessionId, seq, target: request.target };
  } catch (error) {
    throw new PortcullisError('failed_precondition', 'the decision could not be recorded, so the request is refused', {
      cause: error,
      details: { status: 503 },
    });
  }
}

/** The decision metric, once its record is written: HTTP and Kubernetes count as PostgreSQL does. */
function observe(ctx: ListenerContext, request: HttpRequest | KubernetesRequest, decision: Decision, started: number): void {
  ctx.metrics?.observeDecision({ effect: decision.effect, target: request.target, protocol: request.protocol, durationMs: performance.now() - started });
}

export interface ExchangeOutcome {
  status: number;
  durationMs: number;
  maskedValues: number;
  error?: PortcullisError;
}

/** longest a result record waits for a decision record to share a group commit with */
const RESULT_DELAY_MS = 10;

type ResultRecord = Parameters<ListenerContext['recorder']['recordResult']>[0];

interface ResultQueue {
  items: ResultRecord[];
  timer: NodeJS.Timeout | undefined;
}

const resultQueues = new WeakMap<ListenerContext, ResultQueue>();

/**
 * Appends the results waiting in the queue; resolves once they are recorded (failures are logged).
 * Called synchronously before each decision record, so results and the next decision go to disk in
 * one group commit, as the PostgreSQL gateway does: a result is written after the agent has its
 * answer anyway, and a write and flush of its own would hold up the next decision behind it.
 */
export function flushResults(ctx: ListenerContext): Promise<void> {
  const q = resultQueues.get(ctx);
  if (!q || q.items.length === 0) return Promise.resolve();
  if (q.timer) clearTimeout(q.timer);
  q.timer = undefined;
  const items = q.items.splice(0);
  return Promise.all(
    items.map((r) =>
      ctx.recorder.recordResult(r).then(
        () => undefined,
        (error: unknown) => ctx.log('http.result-not-recorded', { error: String(error) }),
      ),
    ),
  ).then(() => undefined);
}

/** The outcome; logged, never thrown: the agent already has its answer. Written with the next decision. */
export async function recordResult(ctx: ListenerContext, exchange: RecordedExchange | undefined, outcome: ExchangeOutcome): Promise<void> {
  if (!exchange) return;
  if (exchange.target !== undefined) ctx.metrics?.observeMasked(exchange.target, outcome.maskedValues);
  let q = resultQueues.get(ctx);
  if (!q) resultQueues.set(ctx, (q = { items: [], timer: undefined }));
  q.items.push({
    sessionId: exchange.sessionId,
    seq: exchange.seq,
    status: outcome.error || outcome.status >= 400 ? 'error' : 'ok',
    durationMs: outcome.durationMs,
    maskedValues: outcome.maskedValues,
    ...(outcome.error
      ? { error: { code: outcome.error.code, message: outcome.error.message } }
      : outcome.status >= 400
        ? { error: { code: `http_${outcome.status}`, message: `upstream answered ${outcome.status}` } }
        : {}),
  });
  q.timer ??= setTimeout(() => void flushResults(ctx), RESULT_DELAY_MS);
}
