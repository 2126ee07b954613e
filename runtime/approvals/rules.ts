/**
 * Who may decide an approval request, and when. Pure functions shared by every backend, so the file
 * store and a PostgreSQL store cannot disagree on the rules.
 */
import { PortcullisError } from '../errors.ts';
import type { AuthenticatedSubject } from '../gateway/context.ts';
import { randomBytes } from 'node:crypto';
import type { ApprovalRequest, Grant, ReviewInput } from './types.ts';
import type { ReviewRequirement } from '../engine/decision.ts';
import { summarize } from './request-hash.ts';

export type EvidenceEntry = [type: string, data: unknown];
export const MAX_NOTE = 1000;
const MAX_REASON = 500;

/** The review requirement of a decision; asking for an approval of anything else is a caller bug. */
export function reviewOf(input: ReviewInput): ReviewRequirement {
  const review = input.decision.review;
  if (input.decision.effect !== 'review' || !review) {
    throw new PortcullisError('invalid_argument', `only a review decision needs an approval (this one is ${input.decision.effect})`);
  }
  return review;
}

/** A new pending approval request, and the evidence record that announces it. */
export function requestStep(
  input: ReviewInput & { reason?: string },
  review: ReviewRequirement,
  hash: string,
  now: number,
  requestTtlMs: number,
): { request: ApprovalRequest; records: EvidenceEntry[] } {
  const reason = input.reason?.trim().slice(0, MAX_REASON);
  const request: ApprovalRequest = {
    id: newId('ap'),
    status: 'pending',
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + requestTtlMs).toISOString(),
    requester: { identity: input.subject.identity, groups: [...input.subject.groups], sessionId: input.sessionId },
    target: input.target,
    protocol: input.request.protocol,
    summary: summarize(input.request),
    requestHash: hash,
    request: input.request,
    rule: review.rule,
    approverGroups: [...review.approverGroups],
    count: Math.max(1, review.count),
    ...(review.grantTtlMs !== undefined ? { grantTtlMs: review.grantTtlMs, grantScope: review.grantScope ?? 'rule' } : {}),
    revision: input.decision.revision,
    ...(reason ? { reason } : {}),
    approvals: [],
  };
  const { request: _req, approvals: _a, status: _s, ...recorded } = request;
  return { request, records: [['approval.requested', recorded]] };
}

/** A denial needs a reason; checked before any state is touched. */
export function denialReason(reason: unknown): string {
  const why = typeof reason === 'string' ? reason.trim().slice(0, MAX_NOTE) : '';
  if (!why) throw new PortcullisError('invalid_argument', 'a denial needs a reason', { details: { hint: 'say why, e.g. --reason "not during the freeze"' } });
  return why;
}

/** A denial of a request (final), and its evidence record. */
export function denialStep(current: ApprovalRequest, approver: AuthenticatedSubject, now: number, why: string): { next: ApprovalRequest; records: EvidenceEntry[] } {
  assertMayDecide(current, approver, now, 'deny');
  const at = new Date(now).toISOString();
  const next: ApprovalRequest = { ...current, status: 'denied', decidedAt: at, denial: { identity: approver.identity, at, reason: why } };
  return { next, records: [['approval.denied', { id: current.id, approver: approver.identity, approverGroups: approver.groups, reason: why }]] };
}
export const newId = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;

export interface ApprovalStep {
  next: ApprovalRequest;
  /** the approver's own entry, as stored */
  action: { identity: string; at: string; note?: string };
  approvals: ApprovalRequest['approvals'];
  complete: boolean;
  grant?: Grant;
  records: EvidenceEntry[];
}

/**
 * One approval of a request, whatever stores it: the new state, the grant it opens when it is the
 * last approval needed, and the evidence records to write. Both approval services call this, so the
 * rules of approving live in one place.
 */
export function approvalStep(current: ApprovalRequest, approver: AuthenticatedSubject, now: number, approvedUseTtlMs: number, note?: string): ApprovalStep {
  assertMayDecide(current, approver, now, 'approve');
  const at = new Date(now).toISOString();
  const trimmed = note?.trim().slice(0, MAX_NOTE);
  const action = { identity: approver.identity, at, ...(trimmed ? { note: trimmed } : {}) };
  const approvals = [...current.approvals, action];
  const complete = approvals.length >= current.count;
  let next: ApprovalRequest = { ...current, approvals };
  const records: EvidenceEntry[] = [
    [
      'approval.approved',
      { id: current.id, approver: approver.identity, approverGroups: approver.groups, ...(trimmed ? { note: trimmed } : {}), approvals: approvals.length, count: current.count, complete },
    ],
  ];
  let grant: Grant | undefined;
  if (complete) {
    next = { ...next, status: 'approved', decidedAt: at };
    if (current.grantTtlMs !== undefined) {
      const scope = current.grantScope ?? 'rule';
      grant = {
        id: newId('gr'),
        approvalId: current.id,
        identity: current.requester.identity,
        target: current.target,
        rule: current.rule,
        scope,
        ...(scope === 'session' ? { sessionId: current.requester.sessionId } : {}),
        openedAt: at,
        expiresAt: new Date(now + current.grantTtlMs).toISOString(),
      };
      next = { ...next, grantId: grant.id };
      records.push(['grant.opened', grant]);
    } else {
      // The agent retries after approval; give it a fresh window from now, not from its first ask.
      next = { ...next, expiresAt: new Date(now + approvedUseTtlMs).toISOString() };
    }
  }
  return { next, action, approvals, complete, ...(grant ? { grant } : {}), records };
}

/** Throws unless `approver` may approve or deny `request` now. */
export function assertMayDecide(request: ApprovalRequest, approver: AuthenticatedSubject, now: number, verb: 'approve' | 'deny'): void {
  if (request.status === 'denied') {
    throw new PortcullisError('failed_precondition', `approval ${request.id} was denied by ${request.denial?.identity ?? 'an approver'}; a denial is final`, {
      details: { hint: 'the agent must ask again, which creates a new request' },
    });
  }
  if (request.status === 'expired' || (request.status === 'pending' && Date.parse(request.expiresAt) <= now)) {
    throw new PortcullisError('failed_precondition', `approval ${request.id} expired at ${request.expiresAt}; it can no longer be ${verb === 'approve' ? 'approved' : 'denied'}`, {
      details: { hint: 'the agent must ask again, which creates a new request' },
    });
  }
  if (request.status === 'approved') {
    throw new PortcullisError('failed_precondition', `approval ${request.id} is already approved`);
  }
  // Agents act, humans approve: a token of an agent identity never decides, whatever its groups.
  if (approver.kind !== 'human') {
    throw new PortcullisError('permission_denied', `${approver.identity} is not a human identity; only humans ${verb} requests`);
  }
  if (approver.identity === request.requester.identity) {
    throw new PortcullisError('permission_denied', `${approver.identity} asked for this request and cannot ${verb} it`, {
      details: { hint: `someone else in ${request.approverGroups.join(', ')} must decide` },
    });
  }
  if (!approver.groups.some((g) => request.approverGroups.includes(g))) {
    throw new PortcullisError('permission_denied', `${approver.identity} is not in an approver group of rule ${request.rule.policy}/${request.rule.rule} (${request.approverGroups.join(', ')})`);
  }
  if (verb === 'approve' && request.approvals.some((a) => a.identity === approver.identity)) {
    throw new PortcullisError('failed_precondition', `${approver.identity} already approved ${request.id}; it needs ${request.count} distinct approvers`);
  }
}
