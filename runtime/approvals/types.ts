/**
 * The approval service's contract. Every method is async so a shared backend (PostgreSQL with row
 * locks and LISTEN/NOTIFY, for several gateway replicas) can implement the same interface as the
 * single-node file store.
 */
import type { Decision, Revision, RuleRef } from '../engine/decision.ts';
import type { Protocol, Request, Subject } from '../engine/request.ts';
import type { AuthenticatedSubject } from '../gateway/context.ts';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface ApproverAction {
  identity: string;
  at: string;
  note?: string;
}

export interface ApprovalRequest {
  id: string;
  status: ApprovalStatus;
  createdAt: string;
  /** pending: when the request lapses; approved one-shot: until when it may be used */
  expiresAt: string;
  decidedAt?: string;
  requester: { identity: string; groups: string[]; sessionId: string };
  target: string;
  protocol: Protocol;
  /** the statement or request line an approver reads */
  summary: string;
  /** sha256 of the normalized request: what a one-shot approval is bound to */
  requestHash: string;
  /** the request as the engine saw it (with `at` of the first ask) */
  request: Request;
  rule: RuleRef;
  approverGroups: string[];
  count: number;
  grantTtlMs?: number;
  grantScope?: 'rule' | 'session';
  /** the policy revision whose rule asked for review */
  revision: Revision;
  /** why the agent says it needs this (application_name, SQL comment, header) */
  reason?: string;
  approvals: ApproverAction[];
  denial?: { identity: string; at: string; reason: string };
  /** one-shot approvals: when the approved request ran */
  consumedAt?: string;
  grantId?: string;
}

export interface Grant {
  id: string;
  approvalId: string;
  identity: string;
  target: string;
  rule: RuleRef;
  scope: 'rule' | 'session';
  /** scope 'session': the session it is bound to */
  sessionId?: string;
  openedAt: string;
  expiresAt: string;
  /** set when it expired (on time, or when its session ended) */
  endedAt?: string;
  endReason?: 'expired' | 'session-ended' | 'gateway-restart';
}

/** What a gateway knows about a review decision. */
export interface ReviewInput {
  subject: Subject;
  sessionId: string;
  target: string;
  request: Request;
  decision: Decision;
}

export type CheckResult = 'allowed-once' | 'grant';

/** What let a review through: named in the decision record, so a replay shows who approved it. */
export interface Coverage {
  via: CheckResult;
  approvalId: string;
  grantId?: string;
  approvers: { identity: string; note?: string }[];
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
}

export interface ApprovalService {
  /** Creates (or returns the pending one for the same identity, target and request hash). */
  request(input: ReviewInput & { reason?: string }): Promise<ApprovalRequest>;
  /** Is this review decision covered? A one-shot approval is consumed by the call that returns it. */
  check(input: ReviewInput, into?: { coverage?: Coverage }): Promise<CheckResult | undefined>;
  approve(id: string, approver: AuthenticatedSubject, note?: string): Promise<ApprovalRequest>;
  deny(id: string, approver: AuthenticatedSubject, reason: string): Promise<ApprovalRequest>;
  get(id: string): Promise<ApprovalRequest | undefined>;
  list(filter?: ApprovalFilter): Promise<ApprovalRequest[]>;
  grants(opts?: { live?: boolean }): Promise<Grant[]>;
  /** Resolves with the request once it is no longer pending, or as it is when `timeoutMs` passes. */
  waitFor(id: string, timeoutMs: number): Promise<ApprovalRequest>;
  /** Ends the session-scoped grants of a session that ended. */
  sessionEnded(sessionId: string): Promise<void>;
  pendingCount(): Promise<number>;
  close(): Promise<void>;
}

export type ApprovalEvent =
  | { kind: 'requested'; request: ApprovalRequest }
  | { kind: 'approved'; request: ApprovalRequest; grant?: Grant }
  | { kind: 'denied'; request: ApprovalRequest }
  | { kind: 'expired'; request: ApprovalRequest };

export interface ApprovalNotifier {
  notify(event: ApprovalEvent): Promise<void>;
}

/** Evidence record types the service appends, one per state change. */
export const APPROVAL_RECORDS = ['approval.requested', 'approval.approved', 'approval.denied', 'approval.expired', 'approval.consumed', 'grant.opened', 'grant.expired'] as const;
