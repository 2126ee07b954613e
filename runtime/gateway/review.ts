/**
 * The one place every gateway settles a `review` decision: with the approval service, an approval
 * or grant that covers this exact request lets it through; otherwise an approval request is opened
 * (or found), the agent is held for a bounded time, and refused with the approval's id. Without an
 * approval service a review simply refuses.
 */
import type { Decision } from '../engine/decision.ts';
import type { Request, Subject } from '../engine/request.ts';
import { PortcullisError } from '../errors.ts';
import { shortRevision } from '../bundle/revision.ts';
import { gateReview } from '../approvals/gate.ts';
import type { ApprovalService, Coverage } from '../approvals/types.ts';

export interface ReviewSettings {
  approvals?: ApprovalService;
  reviewHoldMs?: number;
}

export interface ReviewCase {
  subject: Subject;
  sessionId: string;
  target: string;
  request: Request;
  decision: Decision;
  /** why the agent says it needs this (stated-reason.ts): SET portcullis.reason, a comment, a header, _meta */
  reason?: string;
  /** the request is about to be held for approvers: tell the agent which approval it waits for */
  onHold?: (approval: { id: string; approverGroups: readonly string[]; count: number }) => void;
  /** the review was let through: by which grant or approval, approved by whom (for the record) */
  onCovered?: (coverage: Coverage) => void;
}

/** undefined: go ahead as allowed; else the refusal to send the agent. */
export async function settleReview(settings: ReviewSettings, c: ReviewCase, withoutApprovals: () => PortcullisError): Promise<PortcullisError | undefined> {
  const plain = withoutApprovals();
  if (!settings.approvals) return plain;
  const outcome = await gateReview(settings.approvals, c, {
    holdMs: settings.reviewHoldMs ?? 0,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.onHold ? { onHold: c.onHold } : {}),
  });
  if (outcome.allowed) {
    if (outcome.coverage) c.onCovered?.(outcome.coverage);
    return undefined;
  }
  // The protocol's own refusal details (rules, revision, statement) plus the approval's id and status.
  const e = outcome.error;
  return new PortcullisError(e.code, `${e.message} (policy ${shortRevision(c.decision.revision)})`, { cause: e.cause, details: { ...plain.details, ...e.details } });
}
