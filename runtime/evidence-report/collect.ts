/**
 * One pass over the evidence log, attributing every record to the policy commit behind it:
 * decisions by the revision stamped on them, results through their decision (sessionId + seq),
 * approvals through the revision of the review decision that asked for them, grants through their
 * approval, and live windows from the gateway's bundle.loaded records.
 *
 * The log is streamed, not loaded: only per-commit aggregates, the bounded denial lists and the
 * decisions of still-open sessions (awaiting their results) are held in memory.
 */
import type { Decision, Effect, RuleRef } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import { readEvidence } from '../evidence/reader.ts';
import { describeRequest } from '../simulate/describe.ts';
import { revisionKey, type RevisionKey } from './revision-key.ts';
import type { ApprovalEntry, CommitReport, Denial, EffectCounts, GrantEntry, LiveWindow, ReviewAllowed, RuleCount, TargetCounts } from './types.ts';
import { describeCoverage } from '../approvals/coverage.ts';
import type { Coverage } from '../approvals/types.ts';

export interface CollectOptions {
  /** records before this instant are not counted (live windows that reach past it still show) */
  since?: Date;
  /** most recent denials kept per commit; default 50 */
  denialLimit?: number;
  /** approvals and grants listed per commit; default 200 */
  listLimit?: number;
}

/** A commit's report plus its session ids, so sessions spanning two commits are counted once in totals. */
export type CollectedCommit = CommitReport & { sessionIds: readonly string[] };

export interface Collected {
  commits: CollectedCommit[];
  records: number;
  firstTs?: string;
  lastTs?: string;
  bundlesRejected: number;
  unattributed: { approvalEvents: number; grantEvents: number; results: number };
}

const effects = (): EffectCounts => ({ allow: 0, review: 0, deny: 0 });
const isEffect = (v: unknown): v is Effect => v === 'allow' || v === 'deny' || v === 'review';
const ruleName = (r: Partial<RuleRef> | undefined) => (r && r.policy && r.rule ? `${r.policy}/${r.rule}` : '(unknown rule)');
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

class CommitAgg {
  readonly digests = new Set<string>();
  readonly windows: LiveWindow[] = [];
  firstDecision: string | undefined;
  lastDecision: string | undefined;
  total = 0;
  readonly byEffect = effects();
  readonly targets = new Map<string, TargetCounts>();
  readonly denyRules = new Map<string, RuleCount>();
  denials: Denial[] = [];
  reviewsAllowed: ReviewAllowed[] = [];
  reviewsAllowedTotal = 0;
  denialTotal = 0;
  readonly approvals = { requested: 0, approved: 0, denied: 0, expired: 0, consumed: 0 };
  readonly approvalList: ApprovalEntry[] = [];
  readonly grantCounts = { opened: 0, expired: 0 };
  readonly grantList: GrantEntry[] = [];
  masked = 0;
  results = 0;
  resultsWithMasking = 0;
  readonly sessions = new Set<string>();
  readonly identities = new Set<string>();
  /** when the commit first appears in the kept evidence, for ordering */
  firstSeen: string | undefined;

  constructor(readonly rev: RevisionKey) {}

  seen(ts: string): void {
    if (this.firstSeen === undefined || ts < this.firstSeen) this.firstSeen = ts;
  }
}

interface ApprovalRef {
  agg: CommitAgg;
  entry: ApprovalEntry;
  listed: boolean;
  /** its approval.requested record is within --since */
  requestCounted: boolean;
}

export async function collect(evidenceDir: string, opts: CollectOptions = {}): Promise<Collected> {
  const since = opts.since?.toISOString();
  const denialLimit = opts.denialLimit ?? 50;
  const listLimit = opts.listLimit ?? 200;
  const counted = (ts: string) => since === undefined || ts >= since;

  const commits = new Map<string, CommitAgg>();
  const aggFor = (rev: RevisionKey): CommitAgg => {
    let agg = commits.get(rev.key);
    if (!agg) {
      agg = new CommitAgg(rev);
      commits.set(rev.key, agg);
    }
    if (rev.digest) agg.digests.add(rev.digest);
    return agg;
  };
  // Decisions of sessions still open, waiting for their result records; dropped at session.end.
  const open = new Map<string, Map<number, CommitAgg>>();
  const approvals = new Map<string, ApprovalRef>();
  const grants = new Map<string, { agg: CommitAgg; entry: GrantEntry; listed: boolean }>();
  /** grants not yet ended: a review decision they match was let through by them */
  const openGrants = new Map<string, { entry: GrantEntry; sessionId: string | undefined }>();
  const unattributed = { approvalEvents: 0, grantEvents: 0, results: 0 };
  let live: { agg: CommitAgg; window: LiveWindow } | undefined;
  /** replicas with a gateway.started and no gateway.stopped yet */
  const running = new Set<string>();
  let records = 0;
  let firstTs: string | undefined;
  let lastTs: string | undefined;
  let bundlesRejected = 0;

  const touchApproval = (ref: ApprovalRef, ts: string) => {
    ref.agg.seen(ts);
    if (!ref.listed && ref.agg.approvalList.length < listLimit) {
      ref.agg.approvalList.push(ref.entry);
      ref.listed = true;
    }
  };

  for await (const record of readEvidence(evidenceDir)) {
    records++;
    firstTs ??= record.ts;
    const previousTs = lastTs;
    lastTs = record.ts;
    const data = (record.data ?? {}) as Record<string, unknown>;
    switch (record.type) {
      case 'bundle.loaded': {
        const rev = revisionKey(data.revision);
        if (!rev) break;
        const restarted = data.previous === null || data.previous === undefined;
        if (live && !restarted && live.agg.rev.key === rev.key) break; // same content reloaded: still one window
        if (live) {
          // A gateway start (no previous bundle) means the old one stopped serving with the process.
          live.window.to = restarted ? (previousTs ?? record.ts) : record.ts;
          live.window.endedBy = restarted ? 'restart' : 'reload';
        }
        const agg = aggFor(rev);
        const window: LiveWindow = { from: record.ts, loadedSeq: record.seq };
        agg.windows.push(window);
        live = { agg, window };
        break;
      }
      case 'bundle.rejected':
        if (counted(record.ts)) bundlesRejected++;
        break;
      case 'gateway.started':
        running.add(str(data.replica) ?? '');
        break;
      case 'gateway.stopped': {
        // With several replicas on one chain, the bundle stops serving when the last one stops.
        running.delete(str(data.replica) ?? '');
        if (live && running.size === 0) {
          live.window.to = record.ts;
          live.window.endedBy = 'stop';
          live = undefined;
        }
        break;
      }
      case 'decision': {
        const decision = data.decision as Partial<Decision> | undefined;
        const request = data.request as Request | undefined;
        const rev = revisionKey(decision?.revision);
        const sessionId = str(data.sessionId);
        if (!rev || !decision || !isEffect(decision.effect) || !request || sessionId === undefined) break;
        const agg = aggFor(rev);
        const seq = typeof data.seq === 'number' ? data.seq : 0;
        let session = open.get(sessionId);
        if (!session) open.set(sessionId, (session = new Map()));
        session.set(seq, agg);
        if (!counted(record.ts)) break;
        countDecision(agg, record.ts, record.seq, sessionId, seq, request, decision as Decision, denialLimit);
        if (decision.effect === 'review' && openGrants.size > 0) coverByGrants(openGrants, record.ts, record.seq, sessionId, seq, request, decision as Decision, listLimit);
        break;
      }
      case 'result': {
        const sessionId = str(data.sessionId);
        const agg = sessionId === undefined ? undefined : open.get(sessionId)?.get(data.seq as number);
        if (!counted(record.ts)) break;
        if (!agg) {
          unattributed.results++;
          break;
        }
        const masked = typeof data.maskedValues === 'number' && data.maskedValues > 0 ? data.maskedValues : 0;
        agg.results++;
        agg.masked += masked;
        if (masked > 0) agg.resultsWithMasking++;
        break;
      }
      case 'session.end': {
        const sessionId = str(data.sessionId);
        if (sessionId !== undefined) open.delete(sessionId);
        break;
      }
      case 'approval.requested': {
        const rev = revisionKey(data.revision);
        const id = str(data.id);
        if (!rev || id === undefined) break;
        const requester = (data.requester ?? {}) as { identity?: string };
        const entry: ApprovalEntry = {
          id,
          requestedAt: str(data.createdAt) ?? record.ts,
          requester: requester.identity ?? '(unknown)',
          target: str(data.target) ?? '(unknown)',
          summary: str(data.summary) ?? '',
          rule: ruleName(data.rule as Partial<RuleRef>),
          status: 'pending',
          approvers: [],
          notes: [],
        };
        const ref: ApprovalRef = { agg: aggFor(rev), entry, listed: false, requestCounted: counted(record.ts) };
        approvals.set(id, ref);
        if (ref.requestCounted) {
          ref.agg.approvals.requested++;
          touchApproval(ref, record.ts);
        }
        break;
      }
      case 'approval.approved':
      case 'approval.denied':
      case 'approval.expired':
      case 'approval.consumed': {
        const ref = approvals.get(str(data.id) ?? '');
        if (!ref) {
          if (counted(record.ts)) unattributed.approvalEvents++;
          break;
        }
        const { entry } = ref;
        const note = str(data.note);
        if (note && (record.type === 'approval.approved' || record.type === 'approval.denied')) entry.notes.push({ approver: str(data.approver) ?? '(unknown)', at: record.ts, note });
        if (record.type === 'approval.approved') {
          const approver = str(data.approver);
          if (approver) entry.approvers.push(approver);
          if (data.complete === true) {
            entry.status = 'approved';
            entry.decidedAt = record.ts;
          }
        } else if (record.type === 'approval.denied') {
          entry.status = 'denied';
          entry.decidedAt = record.ts;
          const approver = str(data.approver);
          if (approver) entry.approvers.push(approver);
          const reason = str(data.reason);
          if (reason) entry.denialReason = reason;
        } else if (record.type === 'approval.expired') {
          entry.status = 'expired';
          entry.decidedAt ??= record.ts;
        }
        if (!counted(record.ts)) break;
        const counts = ref.agg.approvals;
        if (record.type === 'approval.approved') {
          if (data.complete === true) counts.approved++;
        } else if (record.type === 'approval.denied') counts.denied++;
        else if (record.type === 'approval.expired') counts.expired++;
        else counts.consumed++;
        touchApproval(ref, record.ts);
        break;
      }
      case 'grant.opened': {
        const approval = approvals.get(str(data.approvalId) ?? '');
        const id = str(data.id);
        if (!approval || id === undefined) {
          if (counted(record.ts)) unattributed.grantEvents++;
          break;
        }
        const entry: GrantEntry = {
          id,
          approvalId: approval.entry.id,
          identity: str(data.identity) ?? approval.entry.requester,
          target: str(data.target) ?? approval.entry.target,
          rule: ruleName(data.rule as Partial<RuleRef>),
          scope: str(data.scope) ?? 'rule',
          openedAt: str(data.openedAt) ?? record.ts,
          expiresAt: str(data.expiresAt) ?? '',
          covered: { total: 0, decisions: [] },
        };
        const ref = { agg: approval.agg, entry, listed: false };
        grants.set(id, ref);
        openGrants.set(id, { entry, sessionId: str(data.sessionId) });
        if (counted(record.ts)) {
          approval.agg.grantCounts.opened++;
          approval.agg.seen(record.ts);
          if (approval.agg.grantList.length < listLimit) {
            approval.agg.grantList.push(entry);
            ref.listed = true;
          }
        }
        break;
      }
      case 'grant.expired': {
        const ref = grants.get(str(data.id) ?? '');
        if (!ref) {
          if (counted(record.ts)) unattributed.grantEvents++;
          break;
        }
        ref.entry.endedAt = record.ts;
        openGrants.delete(ref.entry.id);
        const reason = str(data.reason);
        if (reason) ref.entry.endReason = reason;
        if (!counted(record.ts)) break;
        ref.agg.grantCounts.expired++;
        if (!ref.listed && ref.agg.grantList.length < listLimit) {
          ref.agg.grantList.push(ref.entry);
          ref.listed = true;
        }
        break;
      }
    }
  }

  const pending = new Map<CommitAgg, number>();
  for (const ref of approvals.values()) {
    if (ref.requestCounted && ref.entry.status === 'pending') pending.set(ref.agg, (pending.get(ref.agg) ?? 0) + 1);
  }
  const list: CollectedCommit[] = [];
  for (const agg of commits.values()) {
    const windows = agg.windows.filter((w) => since === undefined || w.to === undefined || w.to >= since);
    for (const w of windows) agg.seen(w.from);
    const active = windows.length > 0 || agg.total > 0 || agg.approvals.requested + agg.approvals.approved + agg.approvals.denied + agg.approvals.expired > 0 || agg.grantCounts.opened > 0;
    if (!active) continue;
    list.push(toReport(agg, windows, denialLimit, pending.get(agg) ?? 0));
  }
  const order = new Map([...commits.values()].map((a) => [a.rev.key, a.firstSeen ?? '']));
  list.sort((a, b) => (order.get(a.key)! < order.get(b.key)! ? -1 : order.get(a.key)! > order.get(b.key)! ? 1 : 0));
  return {
    commits: list,
    records,
    ...(firstTs ? { firstTs } : {}),
    ...(lastTs ? { lastTs } : {}),
    bundlesRejected,
    unattributed,
  };
}

function countDecision(agg: CommitAgg, ts: string, evidenceSeq: number, sessionId: string, seq: number, request: Request, decision: Decision, denialLimit: number): void {
  agg.seen(ts);
  agg.total++;
  agg.byEffect[decision.effect]++;
  if (agg.firstDecision === undefined || ts < agg.firstDecision) agg.firstDecision = ts;
  if (agg.lastDecision === undefined || ts > agg.lastDecision) agg.lastDecision = ts;
  const target = typeof request.target === 'string' ? request.target : '(unknown)';
  let t = agg.targets.get(target);
  if (!t) agg.targets.set(target, (t = { target, total: 0, ...effects() }));
  t.total++;
  t[decision.effect]++;
  agg.sessions.add(sessionId);
  const identity = request.subject?.identity ?? '(unknown)';
  agg.identities.add(identity);
  if (decision.effect === 'review' && decision.approval) {
    agg.reviewsAllowedTotal++;
    agg.reviewsAllowed.push({ ts, identity, target, request: safeDescribe(request), outcome: describeCoverage(decision.approval as Coverage) });
    if (agg.reviewsAllowed.length >= denialLimit * 2) agg.reviewsAllowed = agg.reviewsAllowed.slice(-denialLimit);
  }
  if (decision.effect !== 'deny') return;
  const rules = Array.isArray(decision.rules) ? decision.rules : [];
  if (rules.length === 0) bump(agg.denyRules, { rule: '(default deny)' });
  for (const r of rules) bump(agg.denyRules, { rule: ruleName(r), file: r.file, line: r.line });
  agg.denialTotal++;
  agg.denials.push({
    ts,
    evidenceSeq,
    sessionId,
    seq,
    identity,
    target,
    request: safeDescribe(request),
    rules: rules.map(ruleName),
    reason: typeof decision.reason === 'string' ? decision.reason : '',
  });
  // Keeps the most recent ones; trimming in bulk keeps this linear.
  if (agg.denials.length >= denialLimit * 2) agg.denials = agg.denials.slice(-denialLimit);
}

function coverByGrants(
  open: Map<string, { entry: GrantEntry; sessionId: string | undefined }>,
  ts: string,
  evidenceSeq: number,
  sessionId: string,
  seq: number,
  request: Request,
  decision: Decision,
  limit: number,
): void {
  const identity = request.subject?.identity;
  const rules = new Set((Array.isArray(decision.rules) ? decision.rules : []).map(ruleName));
  for (const { entry, sessionId: bound } of open.values()) {
    if (entry.identity !== identity || entry.target !== request.target || !rules.has(entry.rule)) continue;
    if (ts < entry.openedAt || (entry.expiresAt && ts >= entry.expiresAt) || (bound !== undefined && bound !== sessionId)) continue;
    entry.covered.total++;
    entry.covered.decisions.push({ ts, evidenceSeq, sessionId, seq, request: safeDescribe(request) });
    if (entry.covered.decisions.length > limit) entry.covered.decisions.shift();
  }
}

function bump(map: Map<string, RuleCount>, rule: Omit<RuleCount, 'count'>): void {
  const found = map.get(rule.rule);
  if (found) found.count++;
  else map.set(rule.rule, { ...rule, count: 1 });
}

/** A malformed recorded request must not sink the report; it is shown as what it is. */
function safeDescribe(request: Request): string {
  try {
    return describeRequest(request) ?? `(${String((request as { protocol?: unknown }).protocol)} request)`;
  } catch {
    return '(unreadable request)';
  }
}

const TOP_RULES = 10;

function toReport(agg: CommitAgg, windows: LiveWindow[], denialLimit: number, pending: number): CollectedCommit {
  const shown = denialLimit > 0 ? agg.denials.slice(-denialLimit) : [];
  return {
    key: agg.rev.key,
    commit: agg.rev.commit,
    dirty: agg.rev.dirty,
    digests: [...agg.digests],
    live: {
      windows,
      ...(agg.firstDecision ? { firstDecision: agg.firstDecision } : {}),
      ...(agg.lastDecision ? { lastDecision: agg.lastDecision } : {}),
    },
    decisions: {
      total: agg.total,
      byEffect: { ...agg.byEffect },
      byTarget: [...agg.targets.values()].sort((a, b) => b.total - a.total || (a.target < b.target ? -1 : 1)),
    },
    topDenyingRules: [...agg.denyRules.values()].sort((a, b) => b.count - a.count || (a.rule < b.rule ? -1 : 1)).slice(0, TOP_RULES),
    denials: { total: agg.denialTotal, shown, truncated: agg.denialTotal > shown.length },
    reviewsAllowed: { total: agg.reviewsAllowedTotal, shown: denialLimit > 0 ? agg.reviewsAllowed.slice(-denialLimit) : [] },
    approvals: { ...agg.approvals, pending, list: agg.approvalList },
    grants: { ...agg.grantCounts, list: agg.grantList },
    masking: { maskedValues: agg.masked, results: agg.results, resultsWithMasking: agg.resultsWithMasking },
    sessions: { count: agg.sessions.size, identities: [...agg.identities].sort() },
    flags: [],
    sessionIds: [...agg.sessions],
  };
}
