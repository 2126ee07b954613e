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
import { endSession, flushResults, openSession, queueResult } from '../exchange/index.ts';

export { flushResults };

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
        Promise.resolve(id).then(
          (sessionId) => endSession(ctx, sessionId, 'client-closed'),
          () => undefined, // never opened: nothing to end
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
  const id = openSession(ctx, {
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
  });
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

/**
 * The outcome, queued to be written with the next decision (runtime/exchange/results.ts); logged,
 * never thrown: the agent already has its answer.
 */
export function recordResult(ctx: ListenerContext, exchange: RecordedExchange | undefined, outcome: ExchangeOutcome): void {
  queueResult(ctx, exchange, {
    status: outcome.error || outcome.status >= 400 ? 'error' : 'ok',
    durationMs: outcome.durationMs,
    maskedValues: outcome.maskedValues,
    ...(outcome.error
      ? { error: { code: outcome.error.code, message: outcome.error.message } }
      : outcome.status >= 400
        ? { error: { code: `http_${outcome.status}`, message: `upstream answered ${outcome.status}` } }
        : {}),
  });
}
