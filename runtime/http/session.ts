/**
 * HTTP has no session of its own, so a session is what PostgreSQL's is: one agent connection. Each
 * keep-alive connection opens one recorded session per (identity, target) on its first request, and
 * ends them when the socket closes; every request on it is a decision + result pair. An upgraded
 * exec/attach stream keeps its session until the stream ends.
 */
import type { Socket } from 'node:net';
import type { HttpRequest, KubernetesRequest } from '../engine/request.ts';
import type { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import type { ListenerContext, ListenerSubject } from './context.ts';

interface SocketSessions {
  /** the session id once its start record is written, its promise until then */
  byKey: Map<string, string | Promise<string>>;
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
  durable?: Promise<unknown>;
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
        Promise.resolve(id).then((sessionId) => ctx.recorder.endSession({ sessionId, reason: 'client-closed' })).catch((error: unknown) =>
          ctx.log('http.session-end-failed', { error: String(error) }),
        );
      }
    });
    s = created;
  }
  return s;
}

/**
 * The recorded session a request on this connection belongs to: its id once open (the hot path
 * awaits nothing), else the promise of its start record. Called by the exchange core once the
 * request is admitted, so a gateway that cannot write evidence opens no session.
 */
export function sessionFor(
  ctx: ListenerContext,
  socket: Socket,
  bundle: Bundle,
  subject: ListenerSubject,
  request: HttpRequest | KubernetesRequest,
  attributes: Record<string, string> | (() => Record<string, string>),
): string | Promise<string> {
  const sessions = sessionsOf(ctx, socket);
  const key = `${subject.identity}\0${request.target}`;
  const open = sessions.byKey.get(key);
  if (open !== undefined) return open;
  const id = ctx.recorder
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
  id.then(
    (sessionId) => {
      if (sessions.byKey.get(key) === id) sessions.byKey.set(key, sessionId);
    },
    () => sessions.byKey.delete(key),
  );
  return id;
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
