/**
 * MCP sessions at the gateway. A Streamable HTTP session spans many HTTP requests and connections,
 * so a recorded session is one MCP session (the server's `Mcp-Session-Id`), not one socket. A
 * session id is bound to the identity and target that initialized it: another agent presenting it
 * gets 404, as if it did not exist, and so does anyone after the gateway forgot it (restart, idle
 * timeout) — the transport's signal for the client to initialize again.
 *
 * Servers without session ids (stateless mode) get one recorded session per connection, as HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Bundle } from '../../bundle/model.ts';
import { endSession, limitsOf, openSession, recordResult } from '../../exchange/index.ts';
import type { ListenerContext, ListenerSubject } from '../../http-transport/context.ts';
import type { McpMasker } from './masking.ts';
import { ToolPins } from './pinning.ts';
import type { Visibility } from './visibility.ts';

const DEFAULT_IDLE_MS = 30 * 60_000;
/**
 * How long a session whose client dropped its last GET stream waits for the client to come back
 * (a reconnect, a request) before it is ended as `client-left`.
 */
export const CLIENT_LEFT_GRACE_MS = 3_000;
const SWEEP_MS = 15_000;
/** requests of one session awaiting a response; more is a client that never reads its answers */
export const MAX_PENDING = 1024;

export interface RecordedExchange {
  sessionId: string;
  seq: number;
  /** the target, for the masked-values metric */
  target?: string;
}

/** A request forwarded to the server whose response has not come back yet. */
export interface Pending {
  method: string;
  started: number;
  masker: McpMasker;
  /** set for listings: the filter deciding each entry */
  visibility?: Visibility;
  /** the bundle revision the request was decided under, for tool pins */
  revision: string;
  exchange?: RecordedExchange;
  /** SQL statements the call carries, recorded as postgres requests; they share its outcome */
  statements?: RecordedExchange[];
  /** tool calls and prompts: resources in the result are decided as resources/read */
  resources?: import('./embedded.ts').ResourceGate;
}

export class McpSession {
  readonly key = randomUUID();
  upstreamId: string | undefined;
  readonly pins = new ToolPins();
  readonly pending = new Map<string, Pending>();
  /** the server streams its answers: local refusals then go out as SSE too */
  prefersSse = false;
  protocolVersion: string | undefined;
  readonly attributes: Record<string, string> = {};
  recorded: Promise<string> | undefined;
  /** the recorded session's id once its start record is written */
  recordedId: string | undefined;
  readonly startedAt: number;
  lastSeen: number;
  ended = false;
  /** the client's open GET streams */
  streams = 0;
  readonly idleMs: number;
  readonly maxMs: number | undefined;

  constructor(
    readonly subject: ListenerSubject,
    readonly target: string,
    readonly client: { address: string; port?: number },
    bundle: Bundle,
    now: number,
  ) {
    this.startedAt = now;
    this.lastSeen = now;
    const limits = limitsOf(bundle, subject, target);
    this.idleMs = limits.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    this.maxMs = limits.maxDurationMs;
  }

  /** Headers that place the gateway's own requests in this session. */
  headers(): Record<string, string> {
    return {
      ...(this.upstreamId ? { 'mcp-session-id': this.upstreamId } : {}),
      ...(this.protocolVersion ? { 'mcp-protocol-version': this.protocolVersion } : {}),
    };
  }
}

export interface Outcome {
  durationMs: number;
  maskedValues: number;
  error?: { code: string; message: string };
}

export class McpSessions {
  private readonly byId = new Map<string, McpSession>();
  private readonly perSocket = new WeakMap<Socket, Map<string, McpSession>>();
  private readonly all = new Set<McpSession>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ctx: ListenerContext) {
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  /** The session a request belongs to; undefined when its id is unknown or someone else's. */
  lookup(id: string | undefined, subject: ListenerSubject, target: string, socket: Socket, bundle: Bundle): McpSession | undefined {
    const now = this.ctx.now().getTime();
    if (id !== undefined) {
      const s = this.byId.get(id);
      if (!s || s.ended || s.subject.identity !== subject.identity || s.target !== target) return undefined;
      s.lastSeen = now;
      return s;
    }
    let mine = this.perSocket.get(socket);
    if (!mine) {
      const created = new Map<string, McpSession>();
      this.perSocket.set(socket, created);
      socket.once('close', () => {
        for (const s of created.values()) if (s.upstreamId === undefined) void this.end(s, 'client-closed');
      });
      mine = created;
    }
    const key = `${subject.identity}\0${target}`;
    let s = mine.get(key);
    if (!s || s.ended) {
      s = new McpSession(subject, target, { address: socket.remoteAddress ?? 'unknown', ...(socket.remotePort ? { port: socket.remotePort } : {}) }, bundle, now);
      mine.set(key, s);
      this.all.add(s);
    }
    s.lastSeen = now;
    return s;
  }

  /** The server assigned a session id (in its answer to initialize): from now on it names the session. */
  bind(session: McpSession, upstreamId: string, socket: Socket): void {
    if (session.upstreamId === upstreamId) return;
    session.upstreamId = upstreamId;
    session.attributes['mcp-session-id'] = upstreamId;
    this.byId.set(upstreamId, session);
    const mine = this.perSocket.get(socket);
    const key = `${session.subject.identity}\0${session.target}`;
    if (mine?.get(key) === session) mine.delete(key);
  }

  /**
   * The recorded session of an MCP session: its id once its start record is written (the hot path
   * awaits nothing), else the promise of it. Opened by the exchange core once a request is admitted.
   */
  sessionFor(session: McpSession, bundle: Bundle): string | Promise<string> {
    if (session.recordedId !== undefined) return session.recordedId;
    if (!session.recorded) {
      const s = session.subject;
      const recorded = openSession(this.ctx, {
        identity: s.identity,
        ...(s.kind ? { kind: s.kind } : {}),
        groups: [...s.groups],
        ...(s.tokenSubject ? { tokenSubject: s.tokenSubject } : {}),
        ...(s.issuer ? { issuer: s.issuer } : {}),
        target: session.target,
        protocol: 'mcp',
        client: session.client,
        revision: bundle.revision,
        attributes: { ...session.attributes },
      });
      session.recorded = recorded;
      recorded.then(
        (id) => {
          if (session.recorded === recorded) session.recordedId = id;
        },
        () => {
          if (session.recorded === recorded) session.recorded = undefined;
        },
      );
    }
    return session.recorded;
  }

  /** The outcome; logged, never thrown: the agent has its answer already. */
  async recordResult(exchange: RecordedExchange | undefined, outcome: Outcome): Promise<void> {
    await recordResult(this.ctx, exchange, {
      status: outcome.error ? 'error' : 'ok',
      durationMs: outcome.durationMs,
      maskedValues: outcome.maskedValues,
      ...(outcome.error ? { error: outcome.error } : {}),
    });
  }

  async end(session: McpSession, reason: string): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    this.all.delete(session);
    if (session.upstreamId !== undefined && this.byId.get(session.upstreamId) === session) this.byId.delete(session.upstreamId);
    const now = this.ctx.now().getTime();
    for (const p of session.pending.values()) {
      const outcome = { durationMs: now - p.started, maskedValues: 0, error: { code: 'no_response', message: `the session ended (${reason}) before the server answered` } };
      for (const e of [p.exchange, ...(p.statements ?? [])]) await this.recordResult(e, outcome);
    }
    session.pending.clear();
    if (!session.recorded) return;
    let sessionId: string;
    try {
      sessionId = await session.recorded;
    } catch {
      return; // never opened: nothing to end
    }
    await endSession(this.ctx, sessionId, reason);
  }

  streamOpened(session: McpSession): void {
    session.streams++;
  }

  /**
   * A GET stream ended. If the client dropped it and holds no other open, and then neither sends a
   * request nor reconnects within the grace time, it left: the session ends (instead of reading open
   * until the idle timeout).
   */
  streamClosed(session: McpSession, clientLeft: boolean): void {
    session.streams = Math.max(0, session.streams - 1);
    if (!clientLeft || session.streams > 0 || session.ended) return;
    const closedAt = this.ctx.now().getTime();
    setTimeout(() => {
      if (session.ended || session.streams > 0 || session.pending.size > 0 || session.lastSeen > closedAt) return;
      void this.end(session, 'client-left');
    }, CLIENT_LEFT_GRACE_MS).unref();
  }

  private sweep(): void {
    const now = this.ctx.now().getTime();
    for (const s of this.all) {
      if (now - s.lastSeen > s.idleMs && s.pending.size === 0) void this.end(s, 'idle-timeout');
      else if (s.maxMs !== undefined && now - s.startedAt > s.maxMs) void this.end(s, 'max-duration');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.all].map((s) => this.end(s, 'gateway-shutdown')));
  }
}
