/**
 * The approval store shared by several gateway replicas, in the same PostgreSQL state database as
 * their evidence chain.
 *
 * Every change is one transaction that first locks the rows it decides on (`FOR UPDATE`), so two
 * replicas serialise on the same request: a one-shot approval is consumed once, an approver counts
 * once, a sweep expires a request once. Inside that transaction the evidence records are appended
 * (and durable) before COMMIT, as in the file store: a failure in between loses the change, it never
 * grants something the evidence does not show. A request that stops being pending is announced
 * with NOTIFY (delivered at COMMIT), which wakes `waitFor` on every replica.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { PortcullisError } from '../errors.ts';
import type { EvidenceStore } from '../evidence/store.ts';
import { describeStateUrl, isConfigurationError } from '../evidence/postgres-url.ts';
import type { AuthenticatedSubject } from '../gateway/context.ts';
import { requestHash } from './request-hash.ts';
import { approvalStep, denialReason, denialStep, requestStep, reviewOf, type EvidenceEntry } from './rules.ts';
import { NotifyListener } from './postgres-notify.ts';
import { serviceSettings, type ApprovalServiceOptions } from './settings.ts';
import { addApproval, ensureApprovalSchema, GRANTS, loadGrants, loadRequests, REQUESTS, saveGrant, saveRequest, SETTLED_CHANNEL } from './postgres-rows.ts';
import type { ApprovalEvent, ApprovalFilter, ApprovalNotifier, ApprovalRequest, ApprovalService, CheckResult, Coverage, Grant, ReviewInput } from './types.ts';
import { approversOf } from './coverage.ts';

export interface PostgresApprovalServiceOptions extends ApprovalServiceOptions {
  /** postgres:// URL of the state database (the one the evidence store uses) */
  url: string;
  /** this replica's name: session grants it opened end when it restarts under the same name */
  replica?: string;
  /** connect, statement and lock-wait limit; default 5000 ms */
  timeoutMs?: number;
}

type Tx = pg.PoolClient;

const MAX_WAIT_MS = 30 * 60_000;
/** A waiter re-reads this often even without a notification, in case the LISTEN connection was down. */
const WAIT_POLL_MS = 2000;

const iso = (ms: number) => new Date(ms).toISOString();

export class PostgresApprovalService implements ApprovalService {
  readonly where: string;
  private readonly pool: pg.Pool;
  private readonly listener: NotifyListener;
  private readonly evidence: Pick<EvidenceStore, 'append'>;
  private readonly notifier: ApprovalNotifier | undefined;
  private readonly replica: string;
  private readonly now: () => number;
  private readonly log: (event: string, fields?: Record<string, unknown>) => void;
  private readonly requestTtlMs: number;
  private readonly approvedUseTtlMs: number;
  private readonly retainMs: number;
  private readonly wake = new EventEmitter();
  private readonly notifying = new Set<Promise<void>>();
  private schema: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;

  private constructor(opts: PostgresApprovalServiceOptions) {
    this.where = describeStateUrl(opts.url);
    ({
      evidence: this.evidence,
      notifier: this.notifier,
      now: this.now,
      log: this.log,
      requestTtlMs: this.requestTtlMs,
      approvedUseTtlMs: this.approvedUseTtlMs,
      retainMs: this.retainMs,
    } = serviceSettings(opts));
    this.replica = opts.replica ?? `pid-${process.pid}`;
    this.wake.setMaxListeners(0);
    const t = opts.timeoutMs ?? 5000;
    const client = {
      connectionTimeoutMillis: t,
      query_timeout: t + 1000,
      keepAlive: true,
      fallback_application_name: `portcullis-approvals:${this.replica}`.slice(0, 63),
      // A replica that dies holding a row lock must not stall the others for long; the evidence
      // append inside a transaction is bounded by the evidence store's own timeout.
      options: `-c statement_timeout=${t} -c lock_timeout=${t} -c idle_in_transaction_session_timeout=${3 * t}`,
    };
    this.pool = new pg.Pool({ connectionString: opts.url, max: 4, ...client });
    // An idle pooled connection that dies is replaced on the next checkout; it must not crash the gateway.
    this.pool.on('error', (error) => this.log('approvals.connection.lost', { error: error.message }));
    this.listener = new NotifyListener({
      url: opts.url,
      channel: SETTLED_CHANNEL,
      client,
      log: this.log,
      onNotify: (id) => this.wake.emit(id),
      onReconnect: () => this.wakeAll(),
    });
  }

  /**
   * Creates the tables if needed. Like the evidence store, an unreachable database does not stop the
   * gateway from starting (reviews are refused until it is back); bad credentials or privileges throw.
   */
  static async open(opts: PostgresApprovalServiceOptions): Promise<PostgresApprovalService> {
    const service = new PostgresApprovalService(opts);
    try {
      await service.endOwnSessionGrants();
    } catch (error) {
      if (isConfigurationError(error) || isConfigurationError((error as { cause?: unknown }).cause)) {
        await service.close();
        throw new PortcullisError('failed_precondition', `cannot use the approval state database ${service.where}: ${(error as Error).message}`, {
          cause: error,
          details: { hint: 'check --state: its user, password, database and that the user may create tables there' },
        });
      }
      service.log('approvals.store.unreachable', { where: service.where, error: String((error as Error)?.message ?? error) });
    }
    await service.listener.start();
    const interval = serviceSettings(opts).sweepIntervalMs;
    service.timer = setInterval(() => void service.sweep().catch((e: unknown) => service.log('approvals.sweep.failed', { error: String(e) })), interval);
    service.timer.unref();
    return service;
  }

  async request(input: ReviewInput & { reason?: string }): Promise<ApprovalRequest> {
    const review = reviewOf(input);
    const hash = requestHash(input.request);
    const created = await this.tx(async (c) => {
      const now = this.now();
      // Two replicas asking for the same request at once must end up with one pending request.
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${input.subject.identity}\n${input.target}\n${hash}`]);
      const [open] = await loadRequests(
        c,
        `r.status = 'pending' AND r.expires_ms > $1 AND r.requester = $2 AND r.target = $3 AND r.request_hash = $4`,
        [now, input.subject.identity, input.target, hash],
        'ORDER BY r.created_ms LIMIT 1',
      );
      if (open) return { request: open, fresh: false };
      const { request: r, records } = requestStep(input, review, hash, now, this.requestTtlMs);
      await this.record(records);
      await saveRequest(c, r, this.replica);
      return { request: r, fresh: true };
    });
    if (created.fresh) this.announce({ kind: 'requested', request: created.request });
    return created.request;
  }

  /** `into.coverage` is set to what covered it (grant, approval, approvers) when the answer is not undefined. */
  async check(input: ReviewInput, into?: { coverage?: Coverage }): Promise<CheckResult | undefined> {
    const review = input.decision.review;
    if (input.decision.effect !== 'review' || !review) return undefined;
    const now = this.now();
    const grant = await this.read((c) =>
      c.query(
        `SELECT id, approval_id FROM ${GRANTS} WHERE ended_ms IS NULL AND expires_ms > $1 AND identity = $2 AND target = $3 AND policy = $4 AND rule = $5
           AND (scope = 'rule' OR session_id = $6) LIMIT 1`,
        [now, input.subject.identity, input.target, review.rule.policy, review.rule.rule, input.sessionId],
      ),
    );
    if (grant.rowCount) {
      if (into) {
        const row = grant.rows[0] as { id: string; approval_id: string };
        const [approval] = await this.read((c) => loadRequests(c, 'r.id = $1', [row.approval_id]));
        into.coverage = { via: 'grant', approvalId: row.approval_id, grantId: row.id, approvers: approversOf(approval) };
      }
      return 'grant';
    }
    const hash = requestHash(input.request);
    return this.tx(async (c) => {
      // The lock makes a second replica wait, then re-check `NOT consumed` on the committed row and skip it.
      const locked = await c.query(
        `SELECT id FROM ${REQUESTS} WHERE status = 'approved' AND one_shot AND NOT consumed AND expires_ms > $1
           AND requester = $2 AND target = $3 AND request_hash = $4 ORDER BY created_ms LIMIT 1 FOR UPDATE`,
        [now, input.subject.identity, input.target, hash],
      );
      const id = locked.rows[0]?.id as string | undefined;
      if (!id) return undefined;
      const [r] = await loadRequests(c, 'r.id = $1', [id]);
      if (!r) return undefined;
      await this.record([['approval.consumed', { id, sessionId: input.sessionId, requestHash: hash }]]);
      await saveRequest(c, { ...r, consumedAt: iso(now) }, this.replica);
      if (into) into.coverage = { via: 'allowed-once', approvalId: id, approvers: approversOf(r) };
      return 'allowed-once' as const;
    });
  }

  async approve(id: string, approver: AuthenticatedSubject, note?: string): Promise<ApprovalRequest> {
    const out = await this.tx(async (c) => {
      const now = this.now();
      const current = await this.lockRequest(c, id);
      const { next, action, approvals, complete, grant, records } = approvalStep(current, approver, now, this.approvedUseTtlMs, note);
      await this.record(records);
      await addApproval(c, id, action, approvals.length);
      await saveRequest(c, next, this.replica);
      // A grant is bound to the replica of the session that asked, so its restart can end it.
      if (grant) await saveGrant(c, grant, await this.replicaOf(c, id));
      if (complete) await this.settled(c, id);
      return { request: next, complete, grant };
    });
    if (out.complete) this.announce({ kind: 'approved', request: out.request, ...(out.grant ? { grant: out.grant } : {}) });
    return out.request;
  }

  async deny(id: string, approver: AuthenticatedSubject, reason: string): Promise<ApprovalRequest> {
    const why = denialReason(reason);
    const denied = await this.tx(async (c) => {
      const now = this.now();
      const { next, records } = denialStep(await this.lockRequest(c, id), approver, now, why);
      await this.record(records);
      await saveRequest(c, next, this.replica);
      await this.settled(c, id);
      return next;
    });
    this.announce({ kind: 'denied', request: denied });
    return denied;
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const [r] = await this.read((c) => loadRequests(c, 'r.id = $1', [id]));
    return r;
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRequest[]> {
    return this.read((c) => (filter.status ? loadRequests(c, 'r.status = $1', [filter.status], 'ORDER BY r.created_ms DESC, r.id') : loadRequests(c, 'true', [], 'ORDER BY r.created_ms DESC, r.id')));
  }

  async grants(opts: { live?: boolean } = {}): Promise<Grant[]> {
    return this.read((c) => (opts.live ? loadGrants(c, 'ended_ms IS NULL AND expires_ms > $1', [this.now()], 'ORDER BY expires_ms') : loadGrants(c, 'true', [], 'ORDER BY expires_ms')));
  }

  async waitFor(id: string, timeoutMs: number): Promise<ApprovalRequest> {
    const first = await this.get(id);
    if (!first) throw new PortcullisError('not_found', `no approval request ${id}`);
    if (first.status !== 'pending' || this.closed) return first;
    return new Promise((resolve) => {
      let last = first;
      let done = false;
      let reading = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        this.wake.off(id, recheck);
        this.wake.off('*', release);
        resolve(last);
      };
      const recheck = async (): Promise<void> => {
        if (done || reading || this.closed) return;
        reading = true;
        try {
          const r = await this.get(id);
          if (r) last = r;
          if (r && r.status !== 'pending') finish();
        } catch (error) {
          // Keep holding: the timeout answers with the last state seen, which the gateway refuses.
          this.log('approvals.wait.read-failed', { id, error: String((error as Error)?.message ?? error) });
        } finally {
          reading = false;
        }
      };
      const onWake = () => void recheck();
      const release = () => finish();
      const timer = setTimeout(() => void recheck().finally(finish), Math.min(Math.max(0, timeoutMs), MAX_WAIT_MS));
      const poll = setInterval(onWake, WAIT_POLL_MS);
      this.wake.on(id, onWake);
      this.wake.on('*', release);
      // A decision committed between the first read and subscribing sent its NOTIFY to nobody here.
      onWake();
    });
  }

  async sessionEnded(sessionId: string): Promise<void> {
    await this.tx(async (c) => {
      const at = this.now();
      const live = await loadGrants(c, `scope = 'session' AND session_id = $1 AND ended_ms IS NULL`, [sessionId], 'ORDER BY id FOR UPDATE');
      if (live.length === 0) return;
      const ended = live.map((g) => ({ ...g, endedAt: iso(at), endReason: 'session-ended' as const }));
      await this.record(ended.map((g) => ['grant.expired', { id: g.id, approvalId: g.approvalId, reason: g.endReason, sessionId }]));
      for (const g of ended) await saveGrant(c, g, this.replica);
    });
  }

  async pendingCount(): Promise<number> {
    const r = await this.read((c) => c.query(`SELECT count(*)::int AS n FROM ${REQUESTS} WHERE status = 'pending' AND expires_ms > $1`, [this.now()]));
    return Number(r.rows[0]?.n ?? 0);
  }

  /**
   * Records lapsed requests and grants as expired and deletes old decided ones. Every replica runs
   * it: `SKIP LOCKED` leaves rows another replica is expiring to that replica, and once it commits
   * they no longer match, so each expiry is recorded (and announced) exactly once.
   */
  async sweep(): Promise<void> {
    if (this.closed || this.sweeping) return;
    this.sweeping = true;
    try {
      const expired = await this.tx(async (c) => {
        const now = this.now();
        const at = iso(now);
        const lapsed = await c.query(
          `SELECT id FROM ${REQUESTS} WHERE expires_ms <= $1 AND (status = 'pending' OR (status = 'approved' AND one_shot AND NOT consumed))
             ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED`,
          [now],
        );
        const ids = lapsed.rows.map((r: { id: string }) => r.id);
        const requests = ids.length ? await loadRequests(c, 'r.id = ANY($1)', [ids]) : [];
        const grants = await loadGrants(c, 'ended_ms IS NULL AND expires_ms <= $1', [now], 'ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED');
        const records: EvidenceEntry[] = [];
        const nextRequests = requests.map((r): ApprovalRequest => {
          records.push(['approval.expired', { id: r.id, was: r.status }]);
          return { ...r, status: 'expired', ...(r.status === 'pending' ? { decidedAt: at } : {}) };
        });
        const nextGrants = grants.map((g): Grant => {
          records.push(['grant.expired', { id: g.id, approvalId: g.approvalId, reason: 'expired' }]);
          return { ...g, endedAt: at, endReason: 'expired' };
        });
        await this.record(records);
        for (const r of nextRequests) await saveRequest(c, r, this.replica);
        for (const g of nextGrants) await saveGrant(c, g, this.replica);
        const lapsedPending = nextRequests.filter((r, i) => requests[i]?.status === 'pending');
        for (const r of lapsedPending) await this.settled(c, r.id);
        const old = now - this.retainMs;
        // SKIP LOCKED here too: two replicas deleting the same old rows in different orders would deadlock.
        await c.query(`DELETE FROM ${REQUESTS} WHERE id IN (SELECT id FROM ${REQUESTS} WHERE status <> 'pending' AND COALESCE(decided_ms, expires_ms) < $1 LIMIT 500 FOR UPDATE SKIP LOCKED)`, [old]);
        await c.query(`DELETE FROM ${GRANTS} WHERE id IN (SELECT id FROM ${GRANTS} WHERE ended_ms < $1 LIMIT 500 FOR UPDATE SKIP LOCKED)`, [old]);
        return lapsedPending;
      });
      for (const r of expired) this.announce({ kind: 'expired', request: r });
    } finally {
      this.sweeping = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // Release held requests now: the gateway refuses them as still pending rather than hanging.
    this.wake.emit('*');
    await this.listener.close();
    await Promise.allSettled([...this.notifying]);
    await this.pool.end().catch(() => undefined);
  }

  /** Sessions do not survive a restart, so neither do the grants this replica's sessions held. */
  private async endOwnSessionGrants(): Promise<void> {
    await this.tx(async (c) => {
      const live = await loadGrants(c, `scope = 'session' AND replica = $1 AND ended_ms IS NULL`, [this.replica], 'ORDER BY id FOR UPDATE SKIP LOCKED');
      if (live.length === 0) return;
      const at = iso(this.now());
      const ended = live.map((g) => ({ ...g, endedAt: at, endReason: 'gateway-restart' as const }));
      await this.record(ended.map((g) => ['grant.expired', { id: g.id, approvalId: g.approvalId, reason: g.endReason }]));
      for (const g of ended) await saveGrant(c, g, this.replica);
    });
  }

  private async lockRequest(c: Tx, id: string): Promise<ApprovalRequest> {
    const locked = await c.query(`SELECT id FROM ${REQUESTS} WHERE id = $1 FOR UPDATE`, [id]);
    const [r] = locked.rowCount ? await loadRequests(c, 'r.id = $1', [id]) : [];
    if (!r) throw new PortcullisError('not_found', `no approval request ${id}`, { details: { hint: 'list them with `portcullis approvals list`' } });
    return r;
  }

  private async replicaOf(c: Tx, id: string): Promise<string> {
    const r = await c.query(`SELECT replica FROM ${REQUESTS} WHERE id = $1`, [id]);
    return String(r.rows[0]?.replica ?? this.replica);
  }

  private async settled(c: Tx, id: string): Promise<void> {
    await c.query('SELECT pg_notify($1, $2)', [SETTLED_CHANNEL, id]);
  }

  private async record(records: EvidenceEntry[]): Promise<void> {
    await Promise.all(records.map(([type, data]) => this.evidence.append(type, data)));
  }

  private wakeAll(): void {
    for (const name of this.wake.eventNames()) if (name !== '*') this.wake.emit(name);
  }

  private ready(): Promise<void> {
    this.schema ??= this.read((c) => ensureApprovalSchema(c), false).catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  /** One pooled connection for `fn`; any failure of the database becomes a PortcullisError. */
  private async read<T>(fn: (c: pg.PoolClient) => Promise<T>, ensureSchema = true): Promise<T> {
    if (this.closed) throw new PortcullisError('failed_precondition', 'the approval service is closed');
    // Tables may be missing if the database was unreachable when this replica started.
    if (ensureSchema) await this.ready();
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (error) {
      throw this.unavailable(error);
    }
    try {
      const out = await fn(c);
      c.release();
      return out;
    } catch (error) {
      // A refused decision leaves a healthy connection; anything else (timeout, broken socket) is not reused.
      const reusable =
        PortcullisError.is(error) &&
        (await c.query('ROLLBACK').then(
          () => true,
          () => false,
        ));
      c.release(reusable ? undefined : true);
      throw PortcullisError.is(error) ? error : this.unavailable(error);
    }
  }

  private async tx<T>(fn: (c: Tx) => Promise<T>): Promise<T> {
    return this.read(async (c) => {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    });
  }

  private unavailable(error: unknown): PortcullisError {
    const e = error as { code?: string; message?: string };
    return new PortcullisError('unavailable', `the approval store (PostgreSQL state database ${this.where}) failed: ${e?.message ?? String(error)}${e?.code ? ` (${e.code})` : ''}`, {
      cause: error,
      details: { hint: 'check that the state database is up and reachable; reviews are refused until it is' },
    });
  }

  private announce(event: ApprovalEvent): void {
    if (!this.notifier) return;
    const p = this.notifier
      .notify(event)
      .catch((e: unknown) => this.log('approvals.notify.failed', { id: event.request.id, kind: event.kind, error: String(e) }))
      .finally(() => this.notifying.delete(p));
    this.notifying.add(p);
  }
}
