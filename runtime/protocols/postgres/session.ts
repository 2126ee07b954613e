/**
 * One agent connection after authentication: every statement is analysed, decided, recorded
 * (durably, before it reaches the backend) and checked for mask safety; refused statements never
 * reach the backend. A refusal is sent to the backend as a harmless message that fails (a syntax
 * error, or Execute of a portal that does not exist), so the backend's transaction state and the
 * order of responses stay exactly what the agent's client library expects.
 */
import type { Socket } from 'node:net';
import { FrontendParser, type FrontendMessage } from './wire/frontend.ts';
import { BackendParser } from './wire/backend.ts';
import { describe as describeMsg, execute as executeMsg, flush as flushMsg, noticeResponse, query as queryMsg, sync as syncMsg } from './wire/serialize.ts';
import { CatalogGuard, GuardedStatement, GUARDED_CLASSES, isReservedName, type GuardCheck, type GuardedBody } from './catalog-guard.ts';
import { sendCancelRequest, type BackendConnection } from './backend/connect.ts';
import { closeClient } from './closing.ts';
import { PortcullisError } from '../../errors.ts';
import type { AnalyzedStatement } from '../../sql/analyze.ts';
import { analyzeQuery, changesSchema, emptyDecision, readOnly } from './statement-kinds.ts';
import { checkMaskSafety, masksActiveOn, trackClassified } from '../../sql/mask-safety.ts';
import type { Catalog } from '../../sql/catalog.ts';
import type { Decision, SessionLimits } from '../../engine/decision.ts';
import type { PostgresRequest } from '../../engine/request.ts';
import type { AuthenticatedSubject, GatewayContext } from '../../gateway/context.ts';
import { ResponsePipeline } from './responses.ts';
import { execContext, type ExecContext, type RowBudget, type StatementShape } from './exec-context.ts';
import { maskLookup, type ColumnMasks } from './mask-plan.ts';
import type { OutputMask } from '../../sql/mask-safety.ts';
import type { Bundle } from '../../bundle/model.ts';
import { CanonicalWithSlot } from '../../encoding/canonical.ts';
import { flushResults, judgeUnrecorded, queueResult, runExchange, type ExchangeResult, type Refused } from '../../exchange/index.ts';
import { encodedDecision } from '../../exchange/encoded.ts';
import { encodedRequest, requestParts, type RequestParts } from './request.ts';
import { VerdictCache } from './verdicts.ts';
import { SchemaSettling } from './schema-settling.ts';
import { SessionClock } from './session-limits.ts';
import { errorFromPortcullis, fatal, refusalFor, syntaxError, unsafeForMasking } from './refusal.ts';
import { reasonFromSql, reasonSetting } from '../../gateway/stated-reason.ts';
import { formatDuration } from '../../engine/duration.ts';

/** A portal name no client can have created: Execute on it fails without side effects. */
const REFUSED_PORTAL = 'portcullis\u0001refused';
const REFUSED_QUERY = 'PORTCULLIS_REFUSED';

export interface SessionOptions {
  ctx: GatewayContext;
  sessionId: string;
  subject: AuthenticatedSubject;
  target: string;
  client: Socket;
  /** bytes the client sent after its password message, already parsed past startup */
  clientParser: FrontendParser;
  backend: BackendConnection;
  catalog: () => Promise<Catalog>;
  maskKey: Buffer;
  limits: SessionLimits;
  /** run reads while their evidence is flushed, holding their rows until it is durable (default true) */
  earlyReads?: boolean;
  onEnd(reason: string): void;
}

interface Prepared extends StatementShape {
  sql: string;
  analysed?: AnalyzedStatement;
}

// Hooks of a statement decided from a verdict, made once: closures per statement cost on the hot path.
/** a verdict is an allow: the core never refuses it by policy */
const refusalOfVerdict = (decision: Decision): PortcullisError => refusalFor(decision, '');
const STAGED = (): boolean => true;
const NOT_STAGED = (): boolean => false;

/** The evidence failure in the words PostgreSQL agents have seen so far. */
function evidenceFailure(cause: unknown): PortcullisError {
  return new PortcullisError('failed_precondition', 'the evidence store cannot record this decision, so the statement is refused', {
    cause,
    details: { hint: 'the gateway recovers once evidence can be written again' },
  });
}

/**
 * Refusals of the mask-safety check, as handed to the core: their message is the reason the record
 * gives (`refused by masking: <reason>`); the agent gets them as unsafeForMasking words.
 */
const maskRefusals = new WeakSet<PortcullisError>();

function maskRefusal(reason: string): PortcullisError {
  const e = new PortcullisError('permission_denied', reason);
  maskRefusals.add(e);
  return e;
}

export class PostgresSession {
  private readonly backendParser = new BackendParser();
  private readonly responses: ResponsePipeline;
  private readonly inbound: FrontendMessage[] = [];
  private readonly backendFrames: ReturnType<BackendParser['parse']> = [];
  private toBackend: Buffer[] = [];
  private toClient: Buffer[] = [];
  private workingClient = false;
  private workingBackend = false;
  private skipUntilSync = false;
  /** the other side's socket buffer is full: reading is paused until it drains */
  private clientBlocked = false;
  private backendBlocked = false;
  /** a frame that could not be parsed: the session ends once the messages before it are handled */
  private malformed: PortcullisError | undefined;
  /** called once every expected backend response has arrived (ending after a protocol error) */
  private drained: (() => void) | undefined;
  private copyIn = false;
  private ended = false;
  /** the backend ended the connection with its own FATAL, already relayed: no second one is added */
  private backendSaidFatal = false;
  /** the backend's socket closed; the session ends once the frames it sent before are relayed */
  private backendGone = false;
  private readonly statements = new Map<string, Prepared>();
  private readonly portalFormats = new Map<string, readonly number[]>();
  /** each portal's Bind as sent, to bind it again when a failed guard made the backend drop it */
  private readonly portalBinds = new Map<string, Buffer>();
  /** per analysed statement (analysis results are shared per text), its last allow verdict */
  private readonly verdicts: VerdictCache;
  /** the durable stage of the last read forwarded early; the agent gets no bytes before it */
  private durableGate: Promise<void> | undefined;
  private gateWaiting = false;
  private readonly portals = new Map<string, Prepared>();
  /** SQL-level PREPARE and DECLARE CURSOR, resolved when EXECUTE or FETCH refers to them */
  private readonly named = new Map<string, AnalyzedStatement>();
  /** rows delivered per portal (extended) and per cursor (SQL), for maxRows across batches */
  private readonly portalBudgets = new Map<string, RowBudget>();
  private readonly cursorBudgets = new Map<string, RowBudget>();
  private readonly clock: SessionClock;

  /** what the agent said with SET portcullis.reason (stated-reason.ts); shown to approvers */
  private statedReason: string | undefined;

  constructor(private readonly o: SessionOptions) {
    this.verdicts = new VerdictCache(o.target);
    this.clock = new SessionClock(o.limits, o.subject.expiresAt, (reason, finalError) => this.end(reason, finalError));
    this.responses = new ResponsePipeline(o.catalog, () => this.loadedCatalog, o.maskKey, {
      toClient: (b) => this.toClient.push(b),
      finished: (exec, status, error) => this.finished(exec, status, error),
      copyIn: (active) => (this.copyIn = active),
      transactionStatus: (status) => this.onReady(status),
      backendFatal: () => (this.backendSaidFatal = true),
      guard: (passed, syncNeeded) => this.guardAnswered(passed, syncNeeded),
      swallowedReady: () => this.guardSynced(),
    });
  }

  start(): void {
    const { client, backend } = this.o;
    client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    client.on('close', () => this.end('client-closed'));
    client.on('error', () => this.end('client-error'));
    backend.socket.on('data', (chunk: Buffer) => this.onBackendData(chunk));
    backend.socket.on('close', () => {
      this.backendGone = true;
      if (!this.workingBackend) this.endBackendGone();
    });
    backend.socket.on('error', () => {});
    if (backend.leftover.length > 0) this.onBackendData(backend.leftover);
    backend.socket.resume();
    this.clock.arm();
    void this.catalog().catch(() => {});
    // Bytes that arrived with the password message are processed like any later chunk.
    this.onClientData(Buffer.alloc(0));
  }

  private endBackendGone(): void {
    if (this.ended || this.backendFrames.length > 0) return;
    this.end('backend-closed', this.backendSaidFatal ? undefined : fatal('unavailable', 'the backend closed the connection', 'reconnect; if it persists, check the target database'));
  }

  private loadedCatalog: Catalog | undefined;
  /** the transaction status of the backend's last ReadyForQuery */
  private backendStatus = 'I';
  /** bytes went to the backend since it last reported idle with nothing in flight */
  private sentSinceIdle = false;
  /** an Execute was handled since the backend last reported idle (it may have opened a transaction) */
  private executedSinceIdle = false;
  /** portals bound since then: only their Bind can be sent again after a failed guard */
  private readonly boundSinceIdle = new Set<string>();
  private readonly guard = new CatalogGuard();
  /** the statement a catalog guard went ahead of, until the guard answered (and, failed, the statement was sent again) */
  private guarded: GuardedStatement<ExecContext> | undefined;
  /** guards that failed on an unchanged catalog (commits elsewhere move the probe): skip this many */
  private guardSkip = 0;
  private readonly schema = new SchemaSettling();

  private onReady(status: string): void {
    this.backendStatus = status;
    if (status === 'I' && this.responses.pending === 0) {
      this.sentSinceIdle = this.executedSinceIdle = false;
      this.boundSinceIdle.clear();
    }
    // committed: every session's next statement reloads (the fingerprint would notice too)
    if (this.schema.ready(status)) this.loadedCatalog?.invalidate();
  }

  /** The backend is idle with nothing sent since (no transaction open, none of its messages in flight). */
  private backendIdle(): boolean {
    return this.backendStatus === 'I' && !this.sentSinceIdle && !this.copyIn && !this.skipUntilSync && this.guarded === undefined;
  }

  private guardAllowed(): boolean {
    if (this.guardSkip === 0) return true;
    this.guardSkip--;
    return false;
  }

  /** Send the guard ahead of the statement the caller sends next. */
  private sendGuard(check: GuardCheck, statement: GuardedBody<ExecContext>): void {
    for (const m of this.guard.messages(check)) this.send(m);
    this.responses.expect({ kind: 'guard' });
    this.guarded = new GuardedStatement(statement);
  }

  private guardDone(): void {
    const g = this.guarded;
    this.guarded = undefined;
    g?.settle();
    if (this.inbound.length > 0) void this.workClient();
  }

  /** The guard answered: passed, the statement runs; failed, it waits for the skipped batch's Sync. */
  private guardAnswered(passed: boolean, syncNeeded: boolean): void {
    const g = this.guarded;
    if (!g) throw new PortcullisError('internal', 'a catalog guard answered that the gateway did not send');
    if (passed) return this.guardDone();
    this.guard.failed();
    g.failed = true;
    if (syncNeeded) {
      this.send(syncMsg());
      this.responses.expect({ kind: 'sync', swallow: true });
      this.flushBackend();
    }
  }

  /** The skipped batch's Sync answered: check on the catalog connection and send the statement again. */
  private guardSynced(): void {
    const g = this.guarded;
    if (!g?.failed) return;
    this.resend(g.statement).then(
      () => {
        this.flushBackend();
        this.guardDone();
      },
      (err: unknown) => {
        const e = PortcullisError.from(err);
        this.o.ctx.log('postgres.session.error', { sessionId: this.o.sessionId, code: e.code, message: e.message });
        this.end('error', errorFromPortcullis(e, 'FATAL'));
      },
    );
  }

  /**
   * After a failed guard, nothing of the statement ran. On a catalog that proves unchanged it is sent
   * as it was (its decision stands); on a changed one it is decided again, which records the new
   * decision (the first record then stands alone, like any statement the backend skipped).
   */
  private async resend(g: GuardedBody<ExecContext>): Promise<void> {
    const version = this.catalogVersion();
    const fresh = await this.freshCatalog();
    if (this.ended) return;
    const same = !(fresh instanceof PortcullisError) && fresh.version === version;
    // Commits elsewhere move the snapshot probe without changing the catalog: guards would keep failing.
    if (same) this.guardSkip = 64;
    this.o.ctx.log('postgres.catalog.guard-failed', { sessionId: this.o.sessionId, target: this.o.target, catalogChanged: !same });
    if (g.kind === 'query') {
      if (same) {
        this.send(g.raw);
        this.responses.expect({ kind: 'query', statements: g.execs, index: 0 });
        return;
      }
      this.schema.readyNotComing();
      if (fresh instanceof PortcullisError) return this.refuseSimple(fresh);
      return this.query(g.sql, g.raw, true);
    }
    // The failed transaction took the portal with it: bind it again (the client had its BindComplete).
    this.send(g.bindRaw);
    this.responses.expect({ kind: 'bind', swallow: true });
    if (same) {
      this.send(g.raw);
      this.responses.expect({ kind: 'execute', exec: g.exec });
    } else if (fresh instanceof PortcullisError) {
      await this.refuseExtended(fresh);
      this.skipUntilSync = false;
    } else {
      await this.execute(g.portal, g.raw, true);
      this.skipUntilSync = false;
    }
    // The client's Sync was answered to nobody: this one answers it.
    this.send(syncMsg());
    this.responses.expect({ kind: 'sync' });
  }

  /**
   * Make the catalog current for this statement (see Catalog.ensureFresh); the refusal when it
   * cannot be: no decision is made on knowledge that may be stale.
   */
  private async freshCatalog(): Promise<Catalog | PortcullisError> {
    try {
      const c = await this.catalog();
      await c.ensureFresh();
      return c;
    } catch (err) {
      this.o.ctx.log('postgres.catalog.unavailable', { sessionId: this.o.sessionId, target: this.o.target, error: String(err) });
      return new PortcullisError('unavailable', "the gateway cannot make its knowledge of the backend's catalog current, so statements on a target with masked columns are refused (fail closed)", {
        cause: err,
        details: { hint: 'retry once the target database answers the gateway again' },
      });
    }
  }

  /** the catalog's version, or -1 before it loaded (no cached verdict is valid then) */
  private catalogVersion(): number {
    return this.loadedCatalog?.version ?? -1;
  }

  private async catalog(): Promise<Catalog> {
    const c = await this.o.catalog();
    this.loadedCatalog = c;
    return c;
  }

  // ---- agent -> backend ------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.ended || this.malformed) return;
    const parser = this.o.clientParser;
    parser.push(chunk);
    try {
      for (let m = parser.next(); m; m = parser.next()) this.inbound.push(m);
    } catch (err) {
      // Messages before the malformed one are handled first, as PostgreSQL would; the session ends
      // when the worker reaches the bad one, and nothing after it is even parsed.
      this.malformed = PortcullisError.from(err, 'protocol_violation');
      this.o.client.pause();
    }
    if (this.inbound.length > 256) this.o.client.pause();
    void this.workClient();
  }

  private async workClient(): Promise<void> {
    if (this.workingClient) return;
    this.workingClient = true;
    try {
      while (this.inbound.length > 0 && !this.ended) {
        // Nothing goes after a guarded statement until its guard answered: a failed one is sent again.
        if (this.guarded?.statement.sent) await this.guarded.settled();
        if (this.ended) break;
        const m = this.inbound.shift()!;
        this.clock.touch();
        const waiting = this.handle(m);
        if (waiting) await waiting;
      }
      if (this.malformed && !this.ended && this.inbound.length === 0) this.endAfterPending(this.malformed);
    } catch (err) {
      const e = PortcullisError.from(err);
      this.o.ctx.log('postgres.session.error', { sessionId: this.o.sessionId, code: e.code, message: e.message });
      this.end(e.code === 'protocol_violation' ? 'protocol-violation' : 'error', errorFromPortcullis(e, 'FATAL'));
    } finally {
      this.workingClient = false;
      this.flushBackend();
      if (!this.ended && !this.backendBlocked && !this.malformed) this.o.client.resume();
    }
  }

  /**
   * End with a protocol error once the backend has answered what was already forwarded, so the
   * client sees the results of its valid messages before the FATAL, as it would from PostgreSQL.
   * A Flush makes the backend answer even messages not followed by Sync.
   */
  private endAfterPending(err: PortcullisError): void {
    const final = () => this.end('protocol-violation', errorFromPortcullis(err, 'FATAL'));
    if (this.responses.pending === 0) return final();
    this.send(flushMsg());
    this.flushBackend();
    this.drained = final;
    this.clock.after(5000, final);
  }

  private send(buf: Buffer): void {
    this.toBackend.push(buf);
  }

  private flushBackend(): void {
    if (this.toBackend.length === 0 || this.ended) return;
    this.sentSinceIdle = true;
    const out = this.toBackend.length === 1 ? this.toBackend[0]! : Buffer.concat(this.toBackend);
    this.toBackend = [];
    // A backend slower than the client (a big COPY FROM STDIN): stop reading the client until it drains.
    if (!this.o.backend.socket.write(out) && !this.backendBlocked) {
      this.backendBlocked = true;
      this.o.client.pause();
      this.o.backend.socket.once('drain', () => {
        this.backendBlocked = false;
        if (!this.ended && !this.malformed && this.inbound.length <= 256) this.o.client.resume();
      });
    }
  }

  /** A promise only for what waits (a statement's decision and record); the rest is handled at once. */
  private handle(m: FrontendMessage): void | Promise<void> {
    if (this.copyIn && m.type !== 'CopyData' && m.type !== 'CopyDone' && m.type !== 'CopyFail' && m.type !== 'Flush' && m.type !== 'Sync') {
      throw new PortcullisError('protocol_violation', `client sent ${m.type} during COPY FROM STDIN`);
    }
    if (this.skipUntilSync && m.type !== 'Sync') return;
    const reserved = reservedNameOf(m);
    if (reserved !== undefined) return this.refuseReserved(reserved);
    switch (m.type) {
      case 'Query':
        return this.query(m.sql, m.raw);
      case 'Parse':
        return this.parse(m.name, m.query, m.raw);
      case 'Bind': {
        const stmt = this.statements.get(m.statement);
        if (stmt) this.portals.set(m.portal, stmt);
        else this.portals.delete(m.portal);
        this.portalBinds.set(m.portal, m.raw);
        this.boundSinceIdle.add(m.portal);
        this.portalFormats.set(m.portal, m.resultFormats);
        this.portalBudgets.set(m.portal, { rows: 0 });
        this.send(m.raw);
        this.responses.expect({ kind: 'bind' });
        return;
      }
      case 'Describe':
        this.send(m.raw);
        this.responses.expect({ kind: 'describe', statement: m.kind === 'S' });
        return;
      case 'Execute':
        return this.execute(m.portal, m.raw);
      case 'Sync':
        this.skipUntilSync = false;
        this.schema.syncSent();
        if (this.guarded) this.guarded.statement.sent = true;
        this.send(m.raw);
        this.responses.expect({ kind: 'sync' });
        this.flushBackend();
        return;
      case 'Flush':
        this.send(m.raw);
        this.flushBackend();
        return;
      case 'Close':
        (m.kind === 'S' ? this.statements : this.portals).delete(m.name);
        if (m.kind === 'P') {
          this.portalBudgets.delete(m.name);
          this.portalBinds.delete(m.name);
        }
        this.send(m.raw);
        this.responses.expect({ kind: 'close' });
        return;
      case 'CopyData':
      case 'CopyDone':
      case 'CopyFail':
        // Outside COPY, PostgreSQL ignores these (a client may still be sending after a failed COPY;
        // postgres.js sends CopyFail after every COPY FROM STDIN). Forwarded, the backend does just
        // that, and data pipelined right behind a COPY statement reaches it as copy data.
        this.send(m.raw);
        return;
      case 'Terminate':
        this.end('client-terminated');
        return;
      case 'FunctionCall':
        // The fast-path function call bypasses SQL entirely; nothing about it can be checked.
        return this.recordUnjudged(
          `-- fast-path function call (function oid ${m.raw.length >= 9 ? m.raw.readUInt32BE(5) : 0})`,
          'admin',
          'deny',
          'refused: the fast-path function call protocol carries no SQL to check',
          new PortcullisError('permission_denied', 'the fast-path function call protocol is not allowed through the gateway', { details: { hint: 'call the function with SELECT instead' } }),
        ).then((refused) => this.refuseSimple(refused as PortcullisError));
      default:
        throw new PortcullisError('protocol_violation', `client sent ${m.type} after startup`);
    }
  }

  /** Simple query: every statement of the string must be allowed, or none is run. */
  private async query(sql: string, raw: Buffer, noGuard = false): Promise<void> {
    let analysed: readonly AnalyzedStatement[];
    try {
      analysed = analyzeQuery(sql);
    } catch (err) {
      const e = syntaxError(err, sql);
      return this.refuseSimple((await this.recordUnjudged(sql, 'admin', 'deny', `unparseable: ${e.message}`, e)) as PortcullisError);
    }
    if (analysed.length === 0) {
      // Empty or comment-only: PostgreSQL answers EmptyQueryResponse, and it is recorded like any
      // statement the backend sees, before the backend sees it.
      const exec = await this.recordUnjudged(sql, 'session', 'allow', 'empty query: nothing to run');
      if (exec instanceof PortcullisError) return this.refuseSimple(exec);
      this.schema.readyAsked();
      this.send(raw);
      this.responses.expect({ kind: 'query', statements: [exec], index: 0 });
      return;
    }
    const execs: ExecContext[] = [];
    // A cursor or prepared statement defined earlier in the same string (BEGIN; DECLARE c ...;
    // FETCH ALL FROM c) is known to the later statements, but only kept if the whole string runs.
    const defined = new Map<string, AnalyzedStatement>();
    let end = 0;
    const guardable = !noGuard && analysed.length === 1 && this.backendIdle() && this.responses.pending === 0;
    let guard: GuardCheck | undefined;
    for (const s of analysed) {
      // The parser leaves a statement's leading comment out of its text: read it from the string.
      const commented = reasonFromSql(sql.slice(end, s.offset));
      end = s.offset + s.text.length;
      const verdict = await this.decideAndRecord(s, defined, commented, guardable ? (g) => (guard = g) : undefined);
      if (verdict instanceof PortcullisError) return this.refuseSimple(verdict);
      execs.push(verdict);
      if (s.defines) defined.set(JSON.stringify(s.defines), s);
    }
    for (const s of analysed) this.remember(s);
    analysed.forEach((s, i) => this.attachBudget(s, execs[i]!));
    if (analysed.some(changesSchema)) this.schema.changing(false);
    this.schema.readyAsked();
    if (guard) this.sendGuard(guard, { kind: 'query', sql, raw, execs, sent: true });
    this.send(raw);
    this.responses.expect({ kind: 'query', statements: execs, index: 0 });
    if (this.inbound.length === 0 || guard) this.flushBackend();
  }

  private async parse(name: string, sql: string, raw: Buffer): Promise<void> {
    let analysed: readonly AnalyzedStatement[];
    try {
      analysed = analyzeQuery(sql);
    } catch (err) {
      const e = syntaxError(err, sql);
      return this.refuseExtended((await this.recordUnjudged(sql, 'admin', 'deny', `unparseable: ${e.message}`, e)) as PortcullisError);
    }
    if (analysed.length > 1) {
      // PostgreSQL's own error, word for word: client libraries match on it.
      const message = 'cannot insert multiple commands into a prepared statement';
      const e = new PortcullisError('invalid_argument', message, { details: { postgres: { severity: 'ERROR', code: '42601', message } } });
      return this.refuseExtended((await this.recordUnjudged(sql, 'admin', 'deny', `refused: ${message}`, e)) as PortcullisError);
    }
    const prepared: Prepared = { sql, ...(analysed[0] ? { analysed: analysed[0] } : {}) };
    this.statements.set(name, prepared);
    this.send(raw);
    this.responses.expect({ kind: 'parse' });
    // Learn the statement's result columns once, so no Execute of it needs a Describe of its own.
    this.send(describeMsg('S', name));
    this.responses.expect({ kind: 'shape', shape: prepared });
  }

  private async execute(portal: string, raw: Buffer, noGuard = false): Promise<void> {
    const prepared = this.portals.get(portal);
    // A guard goes only where the batch is Bind…Execute, Sync on an idle backend: nothing ran in it yet.
    const guardable = !noGuard && !this.executedSinceIdle && this.boundSinceIdle.has(portal) && this.backendIdle() && this.inbound[0]?.type === 'Sync';
    this.executedSinceIdle = true;
    if (!prepared) {
      // A portal the gateway did not bind may still exist in the backend: a cursor opened with SQL
      // DECLARE is a portal, and Execute on it would fetch rows no decision covered.
      return this.refuseExtended(new PortcullisError('permission_denied', `portal "${portal}" was not bound through this gateway session; use FETCH to read a cursor`));
    }
    if (!prepared.analysed) {
      const exec = await this.recordUnjudged(prepared.sql, 'session', 'allow', 'empty query: nothing to run');
      if (exec instanceof PortcullisError) return this.refuseExtended(exec);
      this.send(raw);
      this.responses.expect({ kind: 'execute', exec });
      return;
    }
    let guard: GuardCheck | undefined;
    const verdict = await this.decideAndRecord(prepared.analysed, undefined, reasonFromSql(prepared.sql.slice(0, prepared.analysed.offset)), guardable ? (g) => (guard = g) : undefined);
    if (verdict instanceof PortcullisError) return this.refuseExtended(verdict);
    this.remember(prepared.analysed);
    verdict.budget = this.portalBudgets.get(portal);
    this.attachBudget(prepared.analysed, verdict);
    // The result's columns come from the statement's Describe (sent after its Parse) and its formats
    // from the Bind: masking never depends on the client having sent Describe.
    verdict.shape = prepared;
    verdict.resultFormats = this.portalFormats.get(portal) ?? [];
    if (changesSchema(prepared.analysed)) this.schema.changing(true);
    const bindRaw = this.portalBinds.get(portal);
    if (guard && bindRaw) this.sendGuard(guard, { kind: 'execute', portal, raw, bindRaw, exec: verdict, sent: false });
    this.send(raw);
    this.responses.expect({ kind: 'execute', exec: verdict });
  }

  /** Track PREPARE and DECLARE CURSOR so EXECUTE and FETCH are decided on what they run. */
  private remember(s: AnalyzedStatement): void {
    if (!s.defines) return;
    const key = JSON.stringify(s.defines);
    this.named.set(key, s);
    if ('cursor' in s.defines) this.cursorBudgets.set(key, { rows: 0 });
  }

  /** FETCH from a cursor draws on the cursor's row budget, not a fresh one per FETCH. */
  private attachBudget(s: AnalyzedStatement, exec: ExecContext): void {
    if (s.refersTo && 'cursor' in s.refersTo) {
      const b = this.cursorBudgets.get(JSON.stringify(s.refersTo));
      if (b) exec.budget = b;
    }
  }

  private resolve(s: AnalyzedStatement, pending?: ReadonlyMap<string, AnalyzedStatement>): AnalyzedStatement | PortcullisError {
    const named = s.defines ?? s.refersTo;
    if (named && isReservedName('cursor' in named ? named.cursor : named.prepared)) return reservedNameError();
    if (!s.refersTo) return s;
    const key = JSON.stringify(s.refersTo);
    const found = pending?.get(key) ?? this.named.get(key);
    if (found) return found;
    const what = 'cursor' in s.refersTo ? `cursor ${s.refersTo.cursor}` : `prepared statement ${s.refersTo.prepared}`;
    return new PortcullisError('permission_denied', `${what} was not declared through this gateway session, so what it runs cannot be checked`);
  }

  /**
   * One statement through the exchange core (decide → settle review → mask safety → record → count):
   * returns its execution context once its decision may be acted on, or the refusal to send.
   */
  private async decideAndRecord(
    s: AnalyzedStatement,
    pending?: ReadonlyMap<string, AnalyzedStatement>,
    commentedReason?: string,
    guarded?: (check: GuardCheck) => void,
  ): Promise<ExecContext | PortcullisError> {
    const { ctx, target, sessionId } = this.o;
    const bundle = ctx.bundle();
    if (!bundle) {
      return new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle, so it refuses every statement', { details: { hint: 'fix the policy repo; the gateway reloads it' } });
    }
    const resolved = this.resolve(s, pending);
    const at = ctx.now().toISOString();
    const key = this.verdicts.key(s, bundle);
    const hit = resolved instanceof PortcullisError ? undefined : this.verdicts.get(key, s, resolved, bundle, this.catalogVersion());
    // SET/RESET portcullis.reason: the session's stated reason changes once the statement is allowed.
    const stated = reasonSetting(s.ast);
    // A cached verdict on a masked target needs the catalog current as of now: proved by a guard
    // sent with the statement where the backend allows one, else by a check on the catalog connection.
    const check = hit?.catalogBound && guarded && GUARDED_CLASSES.has(hit.resolved.statement.class) && this.guardAllowed() ? this.loadedCatalog?.guardCheck() : undefined;
    const fresh = hit?.catalogBound && !check ? await this.freshCatalog() : undefined;
    if (hit && !(fresh instanceof PortcullisError) && hit.catalogVersion === this.catalogVersion()) {
      if (check) guarded!(check);
      // The same statement under the same bundle and catalog: the same decision, already encoded,
      // and the record splices the request's parts encoded once per session and verdict.
      this.responses.masksActive = hit.masksActive;
      const exec = await this.exchanged(
        runExchange(ctx, {
          bundle,
          request: hit.request,
          session: sessionId,
          decided: { decision: hit.decision, encoded: hit.encoded },
          // v2 log: the template and the session's subject are facts, the record holds `at` and the
          // text; a v1 log (replicas' PostgreSQL store) still needs the whole request.
          ...(ctx.recorder.compact ? { statement: { template: hit.statement, text: s.text, at } } : { recorded: encodedRequest(this.requestParts(), at, hit.statement.fill(s.text)) }),
          refusal: refusalOfVerdict,
          staged: hit.early ? STAGED : NOT_STAGED,
          evidenceFailure,
        }),
        hit.masks,
        hit.outputMasks,
      );
      if (stated && !(exec instanceof PortcullisError)) this.statedReason = stated.reason;
      return exec;
    }
    const effective = resolved instanceof PortcullisError ? s : resolved;
    const request: PostgresRequest = { protocol: 'postgres', subject: this.requestParts().subject, target, at, statement: { ...effective.statement, text: s.text } };
    const reason = commentedReason ?? this.statedReason;
    if (resolved instanceof PortcullisError) {
      // What EXECUTE or FETCH would run is unknown: refused by the gateway, whatever policy says.
      const judged = judgeUnrecorded(bundle, request);
      const decided: Decision = judged.effect === 'deny' ? judged : { ...judged, effect: 'deny', reason: `refused: ${resolved.message}` };
      return this.exchanged(runExchange(ctx, { bundle, request, session: sessionId, decided: { decision: decided }, refusal: () => resolved, evidenceFailure }), maskLookup([]), undefined);
    }
    // Filled by the mask-safety check (the core's protocol check) when it lets the statement through.
    let checked: { masks: ColumnMasks; outputMasks?: readonly OutputMask[] } | undefined;
    const result = await runExchange(ctx, {
      bundle,
      request,
      session: sessionId,
      refusal: (d) => refusalFor(d, s.text),
      ...(reason ? { reason } : {}),
      onHold: (a) => {
        // Shown by psql while the statement waits: which approval, and where approvers act.
        this.toClient.push(
          noticeResponse({
            severity: 'NOTICE',
            code: '00000',
            message: `portcullis: waiting up to ${formatDuration(ctx.reviewHoldMs ?? 0)} for approval ${a.id} by ${a.count} of ${a.approverGroups.join(', ')}`,
            hint: `an approver runs \`portcullis approvals approve ${a.id}\` or uses the console`,
          }),
        );
        this.flushClient();
      },
      check: async (decision) => {
        const outcome = await this.maskCheck(s, resolved, key, bundle, decision, fresh);
        if (outcome instanceof PortcullisError) return outcome;
        checked = outcome;
        return undefined;
      },
      checkName: 'masking',
      staged: () => this.o.earlyReads !== false && readOnly(resolved),
      evidenceFailure,
    });
    if (!result.allowed) return this.refusedBy(result);
    if (stated) this.statedReason = stated.reason;
    return this.exchanged(result, checked?.masks ?? maskLookup(result.decision.masks), checked?.outputMasks);
  }

  /**
   * The protocol check: the catalog current (or the refusal saying it cannot be), masks in force
   * known, and the statement safe under them. An allowed statement's verdict is cached for the next.
   */
  private async maskCheck(
    s: AnalyzedStatement,
    resolved: AnalyzedStatement,
    key: AnalyzedStatement,
    bundle: Bundle,
    decision: Decision,
    fresh: Catalog | PortcullisError | undefined,
  ): Promise<{ masks: ColumnMasks; outputMasks?: readonly OutputMask[] } | PortcullisError> {
    const masks = maskLookup(decision.masks);
    // BEGIN, COMMIT, SET and SHOW read no relation: they need no catalog, current or not.
    const catalogBound = decision.masks.some((m) => m.kind === 'column') && resolved.statement.class !== 'transaction' && resolved.statement.class !== 'session';
    const current = catalogBound ? (fresh ?? (await this.freshCatalog())) : await this.catalog().catch((err: unknown) => PortcullisError.from(err, 'unavailable'));
    if (current instanceof PortcullisError) return current;
    const catalog = current;
    if (catalogBound) trackClassified(catalog, masks);
    this.responses.masksActive = masksActiveOn(catalog, masks);
    let safety = checkMaskSafety(resolved, catalog, masks, { masksActive: this.responses.masksActive });
    if (!safety.ok && safety.unknownRelations) {
      // The catalog is current (masks apply, so it was just checked). Still unknown: a session
      // temp table, or a relation PostgreSQL will not find either; unless this session changed
      // the schema where the catalog cannot see it yet.
      safety = checkMaskSafety(resolved, catalog, masks, { allowUnknownRelations: this.schema.settled });
      if (!safety.ok && safety.unknownRelations) {
        safety = { ok: false, reason: `${safety.reason}: this session changed the schema in a transaction that has not committed, which the gateway cannot see; commit it first` };
      }
    }
    if (!safety.ok) return maskRefusal(safety.reason);
    const outputMasks = safety.outputMasks;
    if (decision.effect === 'allow' && !decision.approval && !bundle.index.targets.get(this.o.target)?.timeDependent) {
      const statement = new CanonicalWithSlot({ ...resolved.statement, text: s.text } as unknown as Record<string, unknown>, 'text');
      this.verdicts.set(key, {
        bundle,
        catalogVersion: catalog.version,
        resolved: resolved === s ? key : resolved,
        decision,
        encoded: encodedDecision(bundle, decision),
        request: { protocol: 'postgres', subject: this.requestParts().subject, target: this.o.target, at: '', statement: resolved.statement },
        statement,
        masks,
        masksActive: this.responses.masksActive,
        catalogBound,
        early: this.o.earlyReads !== false && readOnly(resolved),
        ...(outputMasks ? { outputMasks } : {}),
      });
    }
    return outputMasks ? { masks, outputMasks } : { masks };
  }

  /** An allowed exchange's execution context once its record allows acting on it; else the refusal. */
  private async exchanged(run: ExchangeResult | Promise<ExchangeResult>, masks: ColumnMasks, outputMasks: readonly OutputMask[] | undefined): Promise<ExecContext | PortcullisError> {
    const result = run instanceof Promise ? await run : run;
    if (!result.allowed) return this.refusedBy(result);
    let seq: number;
    try {
      seq = await result.evidence.written;
    } catch (err) {
      return PortcullisError.from(err, 'failed_precondition');
    }
    // A read may run once its record is written; its rows are held until the record is durable.
    if (result.evidence.staged) this.durableGate = result.evidence.durable as Promise<void>;
    return execContext(seq, result.decision, masks, outputMasks, Date.now());
  }

  /** A refusal as the agent sees it: the mask-safety check's in the words PostgreSQL users know. */
  private refusedBy(result: Refused): PortcullisError {
    if (maskRefusals.has(result.error) && result.decision) return unsafeForMasking(result.error.message, result.decision);
    // refused at admission: the store is known broken, and nothing was decided or recorded
    if (!result.decision) return evidenceFailure(result.error);
    return result.error;
  }

  /**
   * The record of something no policy rule judges (an empty query, unparseable text, a fast-path
   * call): what reached the gateway, and what it did. Returns `refusal` once recorded (or the
   * evidence failure), else the execution context of an allowed empty statement.
   */
  private async recordUnjudged(text: string, cls: 'admin' | 'session', effect: 'allow' | 'deny', reason: string, refusal?: PortcullisError): Promise<ExecContext | PortcullisError> {
    const { ctx, target, sessionId } = this.o;
    const bundle = ctx.bundle();
    const request: PostgresRequest = {
      protocol: 'postgres',
      subject: this.requestParts().subject,
      target,
      at: ctx.now().toISOString(),
      statement: { text, class: cls, relations: [], hasWhere: true },
    };
    const decision: Decision = { ...emptyDecision(), effect, reason, ...(bundle ? { revision: bundle.revision } : {}) };
    const denied = refusal ?? new PortcullisError('permission_denied', reason);
    if (!bundle) {
      // no bundle to run an exchange under: the refusal is the gateway's own (nothing is forwarded)
      return effect === 'deny' ? denied : new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle, so it refuses every statement');
    }
    return this.exchanged(runExchange(ctx, { bundle, request, session: sessionId, decided: { decision }, refusal: () => denied, evidenceFailure }), maskLookup([]), undefined);
  }

  /** The session's subject, target and their canonical JSON, made once per session. */
  private requestParts(): RequestParts {
    return (this.parts ??= requestParts({ identity: this.o.subject.identity, groups: this.o.subject.groups }, this.o.target));
  }

  private parts: RequestParts | undefined;

  private async refuseSimple(err: PortcullisError): Promise<void> {
    this.schema.readyAsked();
    this.send(queryMsg(REFUSED_QUERY));
    this.responses.expect({ kind: 'refused', error: errorFromPortcullis(err), extended: false });
    this.flushBackend();
  }

  /** A client message naming the gateway's own statement or portal: recorded, refused, skipped to Sync. */
  private async refuseReserved(name: string): Promise<void> {
    const e = reservedNameError();
    const refused = await this.recordUnjudged(`-- protocol message naming ${JSON.stringify(name)}`, 'admin', 'deny', `refused: ${e.message}`, e);
    return this.refuseExtended(refused as PortcullisError);
  }

  private async refuseExtended(err: PortcullisError): Promise<void> {
    this.send(executeMsg(REFUSED_PORTAL, 0));
    this.responses.expect({ kind: 'refused', error: errorFromPortcullis(err), extended: true });
    this.skipUntilSync = true;
  }

  /**
   * A result record waits for the next decision (the core writes it right before), a short timer or
   * the session's end, so both go to disk in one group commit: the rows went out already, and a
   * flush of its own would double the evidence cost of every statement.
   */
  private finished(exec: ExecContext, status: 'ok' | 'error', error?: { code: string; message: string }): void {
    if (exec.seq === 0) return;
    queueResult(
      this.o.ctx,
      { sessionId: this.o.sessionId, seq: exec.seq, target: this.o.target },
      {
        status,
        durationMs: Date.now() - exec.startedAt,
        rows: exec.delivered,
        maskedValues: exec.maskedValues,
        sample: exec.sample,
        ...(error ? { error } : {}),
      },
    );
  }

  // ---- backend -> agent ------------------------------------------------------------------

  private onBackendData(chunk: Buffer): void {
    if (this.ended) return;
    try {
      for (const f of this.backendParser.parse(chunk)) this.backendFrames.push(f);
    } catch (err) {
      this.end('backend-protocol-violation', fatal('unavailable', `the backend sent an invalid message: ${(err as Error).message}`));
      return;
    }
    if (this.backendFrames.length > 4096) this.o.backend.socket.pause();
    void this.workBackend();
  }

  private async workBackend(): Promise<void> {
    if (this.workingBackend) return;
    this.workingBackend = true;
    try {
      while (this.backendFrames.length > 0 && !this.ended) {
        const waiting = this.responses.handle(this.backendFrames.shift()!);
        if (waiting) await waiting;
        if (this.toClient.length > 64) this.flushClient();
      }
      if (this.drained && this.responses.pending === 0) this.drained();
    } catch (err) {
      const e = PortcullisError.from(err);
      this.o.ctx.log('postgres.session.error', { sessionId: this.o.sessionId, code: e.code, message: e.message });
      if (e.code === 'failed_precondition') this.end('backend-setting-changed', errorFromPortcullis(e, 'FATAL'));
      else this.end('error', fatal('internal', 'the gateway lost track of the backend protocol and closed the session (fail closed)'));
    } finally {
      this.workingBackend = false;
      this.flushClient();
      if (this.backendGone) this.endBackendGone();
      else if (!this.ended && !this.clientBlocked) this.o.backend.socket.resume();
    }
  }

  private flushClient(): void {
    if (this.toClient.length === 0 || this.ended) return;
    const gate = this.durableGate;
    if (gate) {
      // Results of a statement forwarded before its record was on disk wait until it is.
      if (!this.gateWaiting) {
        this.gateWaiting = true;
        gate.then(
          () => {
            this.gateWaiting = false;
            if (this.durableGate === gate) this.durableGate = undefined;
            this.flushClient();
          },
          () => {
            this.gateWaiting = false;
            this.toClient = [];
            this.end(
              'evidence-failed',
              fatal('failed_precondition', 'the evidence record of a statement could not be made durable, so its results are withheld', 'reconnect once the gateway can write evidence again'),
            );
          },
        );
      }
      return;
    }
    const out = this.toClient.length === 1 ? this.toClient[0]! : Buffer.concat(this.toClient);
    this.toClient = [];
    if (this.o.client.destroyed) return;
    // A client reading slower than the backend sends: stop reading the backend until it drains,
    // so a large result is never buffered whole in the gateway.
    if (!this.o.client.write(out) && !this.clientBlocked && !this.ended) {
      this.clientBlocked = true;
      this.o.backend.socket.pause();
      this.o.client.once('drain', () => {
        this.clientBlocked = false;
        if (!this.ended && this.backendFrames.length <= 4096) this.o.backend.socket.resume();
      });
    }
  }

  private releaseBackend(reason: string): void {
    const { backend } = this.o;
    const close = () => void backend.close().catch(() => {});
    if (!CANCEL_ON_END.has(reason) || this.responses.pending === 0 || this.backendGone) return close();
    this.o.ctx.log('postgres.session.cancel', { sessionId: this.o.sessionId, reason });
    sendCancelRequest(backend.host, backend.port, backend.backendKey.processId, backend.backendKey.secretKey).then(close, close);
  }

  /** End the session once: optional final error to the agent, close both sides, record why. */
  end(reason: string, finalError?: Buffer): void {
    if (this.ended) return;
    const gate = this.durableGate;
    if (!gate) this.flushClient();
    this.ended = true;
    this.guarded?.settle();
    // results before the session.end record that onEnd writes
    void flushResults(this.o.ctx);
    this.clock.clear();
    const finish = (withheld: boolean) => {
      if (!withheld && this.toClient.length > 0 && !this.o.client.destroyed) this.o.client.write(Buffer.concat(this.toClient));
      this.toClient = [];
      closeClient(this.o.client, finalError);
      this.releaseBackend(reason);
      this.o.onEnd(reason);
    };
    // Answers held for a durable record still go out first when it becomes durable; never before.
    if (gate)
      gate.then(
        () => finish(false),
        () => finish(true),
      );
    else finish(false);
  }
}

/**
 * Sessions the gateway ends while a statement may still run. Closing the backend connection does
 * not stop it (PostgreSQL notices a gone client only when it next writes), so it is cancelled.
 * Not for a client that left or sent Terminate: PostgreSQL finishes what such a client sent.
 */
const CANCEL_ON_END = new Set(['token-expired', 'max-duration', 'idle-timeout', 'gateway-shutdown', 'evidence-failed']);

/** The gateway's own prepared statement or portal named by a client message, if any. */
function reservedNameOf(m: FrontendMessage): string | undefined {
  switch (m.type) {
    case 'Parse':
    case 'Describe':
    case 'Close':
      return isReservedName(m.name) ? m.name : undefined;
    case 'Bind':
      return isReservedName(m.portal) ? m.portal : isReservedName(m.statement) ? m.statement : undefined;
    case 'Execute':
      return isReservedName(m.portal) ? m.portal : undefined;
    default:
      return undefined;
  }
}

function reservedNameError(): PortcullisError {
  return new PortcullisError('permission_denied', 'names starting with "portcullis" and byte 0x01 belong to the gateway on this connection', {
    details: { hint: 'name the prepared statement or portal otherwise' },
  });
}
