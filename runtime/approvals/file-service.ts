/**
 * The single-node approval store: state in `<dataDir>/approvals/state.json`, every change also an
 * evidence record. A change is made durable in the evidence log first and in the state file second,
 * and only then takes effect in memory: a crash in between loses the change (the agent asks again)
 * and never grants something the evidence does not show.
 *
 * One process owns a data dir (the evidence store's lock already guarantees that for a gateway), so
 * an in-process queue is all the locking this store needs; several replicas need the PostgreSQL store.
 */
import { EventEmitter } from 'node:events';
import { PortcullisError } from '../errors.ts';
import type { EvidenceStore } from '../evidence/store.ts';
import type { RuleRef } from '../engine/decision.ts';
import type { AuthenticatedSubject } from '../gateway/context.ts';
import { requestHash } from './request-hash.ts';
import { approvalStep, denialReason, denialStep, requestStep, reviewOf, type EvidenceEntry } from './rules.ts';
import { readState, statePath, writeState } from './state-file.ts';
import { serviceSettings, type ApprovalServiceOptions } from './settings.ts';
import type { ApprovalEvent, ApprovalFilter, ApprovalNotifier, ApprovalRequest, ApprovalService, CheckResult, Coverage, Grant, ReviewInput } from './types.ts';
import { approversOf } from './coverage.ts';

export interface FileApprovalServiceOptions extends ApprovalServiceOptions {
  dataDir: string;
}

const MAX_WAIT_MS = 30 * 60_000;

const sameRule = (a: RuleRef, b: RuleRef) => a.policy === b.policy && a.rule === b.rule;
const clone = <T>(v: T): T => structuredClone(v);

export class FileApprovalService implements ApprovalService {
  private readonly path: string;
  private readonly evidence: Pick<EvidenceStore, 'append'>;
  private readonly notifier: ApprovalNotifier | undefined;
  private readonly now: () => number;
  private readonly log: (event: string, fields?: Record<string, unknown>) => void;
  private readonly requestTtlMs: number;
  private readonly approvedUseTtlMs: number;
  private readonly retainMs: number;
  private requests = new Map<string, ApprovalRequest>();
  private grantMap = new Map<string, Grant>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly settled = new EventEmitter();
  private readonly notifying = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(opts: FileApprovalServiceOptions) {
    this.path = statePath(opts.dataDir);
    ({
      evidence: this.evidence,
      notifier: this.notifier,
      now: this.now,
      log: this.log,
      requestTtlMs: this.requestTtlMs,
      approvedUseTtlMs: this.approvedUseTtlMs,
      retainMs: this.retainMs,
    } = serviceSettings(opts));
    this.settled.setMaxListeners(0);
  }

  static async open(opts: FileApprovalServiceOptions): Promise<FileApprovalService> {
    const service = new FileApprovalService(opts);
    const state = await readState(service.path);
    for (const r of state.requests) service.requests.set(r.id, r);
    for (const g of state.grants) service.grantMap.set(g.id, g);
    // Sessions do not survive a restart, so neither do grants bound to one.
    await service.exclusive(async () => {
      const ended = [...service.grantMap.values()].filter((g) => g.scope === 'session' && !g.endedAt);
      if (ended.length === 0) return;
      const at = new Date(service.now()).toISOString();
      const grants = ended.map((g) => ({ ...g, endedAt: at, endReason: 'gateway-restart' as const }));
      await service.commit(
        grants.map((g) => ['grant.expired', { id: g.id, approvalId: g.approvalId, reason: g.endReason }]),
        [],
        grants,
      );
    });
    const interval = serviceSettings(opts).sweepIntervalMs;
    service.timer = setInterval(() => void service.sweep().catch((e: unknown) => service.log('approvals.sweep.failed', { error: String(e) })), interval);
    service.timer.unref();
    return service;
  }

  async request(input: ReviewInput & { reason?: string }): Promise<ApprovalRequest> {
    const review = reviewOf(input);
    const hash = requestHash(input.request);
    const created = await this.exclusive(async () => {
      const now = this.now();
      for (const r of this.requests.values()) {
        if (r.status === 'pending' && Date.parse(r.expiresAt) > now && r.requester.identity === input.subject.identity && r.target === input.target && r.requestHash === hash) {
          return { request: r, fresh: false };
        }
      }
      const { request: r, records } = requestStep(input, review, hash, now, this.requestTtlMs);
      await this.commit(records, [r], []);
      return { request: r, fresh: true };
    });
    if (created.fresh) this.announce({ kind: 'requested', request: clone(created.request) });
    return clone(created.request);
  }

  /** `into.coverage` is set to what covered it (grant, approval, approvers) when the answer is not undefined. */
  async check(input: ReviewInput, into?: { coverage?: Coverage }): Promise<CheckResult | undefined> {
    const review = input.decision.review;
    if (input.decision.effect !== 'review' || !review) return undefined;
    return this.exclusive(async () => {
      const now = this.now();
      for (const g of this.grantMap.values()) {
        if (
          !g.endedAt &&
          Date.parse(g.expiresAt) > now &&
          g.identity === input.subject.identity &&
          g.target === input.target &&
          sameRule(g.rule, review.rule) &&
          (g.scope === 'rule' || g.sessionId === input.sessionId)
        ) {
          if (into) into.coverage = { via: 'grant', approvalId: g.approvalId, grantId: g.id, approvers: approversOf(this.requests.get(g.approvalId)) };
          return 'grant' as const;
        }
      }
      const hash = requestHash(input.request);
      for (const r of this.requests.values()) {
        if (
          r.status === 'approved' &&
          r.grantTtlMs === undefined &&
          !r.consumedAt &&
          Date.parse(r.expiresAt) > now &&
          r.requester.identity === input.subject.identity &&
          r.target === input.target &&
          r.requestHash === hash
        ) {
          const used: ApprovalRequest = { ...r, consumedAt: new Date(now).toISOString() };
          await this.commit([['approval.consumed', { id: r.id, sessionId: input.sessionId, requestHash: hash }]], [used], []);
          if (into) into.coverage = { via: 'allowed-once', approvalId: r.id, approvers: approversOf(r) };
          return 'allowed-once' as const;
        }
      }
      return undefined;
    });
  }

  async approve(id: string, approver: AuthenticatedSubject, note?: string): Promise<ApprovalRequest> {
    const out = await this.exclusive(async () => {
      const now = this.now();
      const { next, complete, grant, records } = approvalStep(this.mustGet(id), approver, now, this.approvedUseTtlMs, note);
      await this.commit(records, [next], grant ? [grant] : []);
      return { request: next, complete, grant };
    });
    if (out.complete) {
      this.settled.emit(id);
      this.announce({ kind: 'approved', request: clone(out.request), ...(out.grant ? { grant: clone(out.grant) } : {}) });
    }
    return clone(out.request);
  }

  async deny(id: string, approver: AuthenticatedSubject, reason: string): Promise<ApprovalRequest> {
    const why = denialReason(reason);
    const denied = await this.exclusive(async () => {
      const now = this.now();
      const { next, records } = denialStep(this.mustGet(id), approver, now, why);
      await this.commit(records, [next], []);
      return next;
    });
    this.settled.emit(id);
    this.announce({ kind: 'denied', request: clone(denied) });
    return clone(denied);
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const r = this.requests.get(id);
    return r ? clone(r) : undefined;
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRequest[]> {
    return [...this.requests.values()]
      .filter((r) => !filter.status || r.status === filter.status)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .map(clone);
  }

  async grants(opts: { live?: boolean } = {}): Promise<Grant[]> {
    const now = this.now();
    return [...this.grantMap.values()].filter((g) => !opts.live || (!g.endedAt && Date.parse(g.expiresAt) > now)).map(clone);
  }

  async waitFor(id: string, timeoutMs: number): Promise<ApprovalRequest> {
    const current = this.requests.get(id);
    if (!current) throw new PortcullisError('not_found', `no approval request ${id}`);
    if (current.status !== 'pending' || this.closed) return clone(current);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.settled.off(id, done);
        resolve(clone(this.requests.get(id) ?? current));
      };
      const timer = setTimeout(done, Math.min(Math.max(0, timeoutMs), MAX_WAIT_MS));
      this.settled.on(id, done);
    });
  }

  async sessionEnded(sessionId: string): Promise<void> {
    await this.exclusive(async () => {
      const at = new Date(this.now()).toISOString();
      const ended = [...this.grantMap.values()]
        .filter((g) => g.scope === 'session' && g.sessionId === sessionId && !g.endedAt)
        .map((g) => ({ ...g, endedAt: at, endReason: 'session-ended' as const }));
      if (ended.length === 0) return;
      await this.commit(
        ended.map((g) => ['grant.expired', { id: g.id, approvalId: g.approvalId, reason: g.endReason, sessionId }]),
        [],
        ended,
      );
    });
  }

  async pendingCount(): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const r of this.requests.values()) if (r.status === 'pending' && Date.parse(r.expiresAt) > now) n++;
    return n;
  }

  /** Records lapsed requests and grants as expired, and forgets old decided ones. */
  async sweep(): Promise<void> {
    if (this.closed) return;
    const expired = await this.exclusive(async () => {
      const now = this.now();
      const at = new Date(now).toISOString();
      const records: EvidenceEntry[] = [];
      const requests: ApprovalRequest[] = [];
      const grants: Grant[] = [];
      const lapsedPending: ApprovalRequest[] = [];
      for (const r of this.requests.values()) {
        const lapsedUnused = r.status === 'approved' && r.grantTtlMs === undefined && !r.consumedAt;
        if ((r.status === 'pending' || lapsedUnused) && Date.parse(r.expiresAt) <= now) {
          const next: ApprovalRequest = { ...r, status: 'expired', ...(r.status === 'pending' ? { decidedAt: at } : {}) };
          records.push(['approval.expired', { id: r.id, was: r.status }]);
          requests.push(next);
          if (r.status === 'pending') lapsedPending.push(next);
        }
      }
      for (const g of this.grantMap.values()) {
        if (!g.endedAt && Date.parse(g.expiresAt) <= now) {
          const next: Grant = { ...g, endedAt: at, endReason: 'expired' };
          records.push(['grant.expired', { id: g.id, approvalId: g.approvalId, reason: 'expired' }]);
          grants.push(next);
        }
      }
      const old = (ts: string | undefined) => ts !== undefined && now - Date.parse(ts) > this.retainMs;
      const dropRequests = [...this.requests.values()].filter((r) => r.status !== 'pending' && old(r.decidedAt ?? r.expiresAt)).map((r) => r.id);
      const dropGrants = [...this.grantMap.values()].filter((g) => old(g.endedAt)).map((g) => g.id);
      if (records.length === 0 && dropRequests.length === 0 && dropGrants.length === 0) return [];
      await this.commit(records, requests, grants, { requests: dropRequests, grants: dropGrants });
      return lapsedPending;
    });
    for (const r of expired) {
      this.settled.emit(r.id);
      this.announce({ kind: 'expired', request: clone(r) });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.queue.catch(() => undefined);
    // Release held requests now: the gateway refuses them as still pending rather than hanging.
    for (const id of this.requests.keys()) this.settled.emit(id);
    await Promise.allSettled([...this.notifying]);
  }

  private mustGet(id: string): ApprovalRequest {
    const r = this.requests.get(id);
    if (!r) throw new PortcullisError('not_found', `no approval request ${id}`, { details: { hint: 'list them with `portcullis approvals list`' } });
    return r;
  }

  /** Evidence first, state file second, memory last. */
  private async commit(records: EvidenceEntry[], requests: ApprovalRequest[], grants: Grant[], drop: { requests?: string[]; grants?: string[] } = {}): Promise<void> {
    if (this.closed) {
      throw new PortcullisError('failed_precondition', 'the approval service is closed');
    }
    await Promise.all(records.map(([type, data]) => this.evidence.append(type, data)));
    const nextRequests = new Map(this.requests);
    const nextGrants = new Map(this.grantMap);
    for (const r of requests) nextRequests.set(r.id, r);
    for (const g of grants) nextGrants.set(g.id, g);
    for (const id of drop.requests ?? []) nextRequests.delete(id);
    for (const id of drop.grants ?? []) nextGrants.delete(id);
    try {
      await writeState(this.path, { version: 1, requests: [...nextRequests.values()], grants: [...nextGrants.values()] });
    } catch (error) {
      throw new PortcullisError('failed_precondition', `cannot write approval state ${this.path}`, { cause: error });
    }
    this.requests = nextRequests;
    this.grantMap = nextGrants;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
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
