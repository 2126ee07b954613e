/**
 * The one call a gateway makes for a `review` decision: is it already covered (a grant, or an
 * approval of this exact request), else ask, hold the request open for a bounded time, and answer
 * either "go ahead as allowed" or the refusal to send the agent.
 */
import { PortcullisError } from '../errors.ts';
import type { ApprovalRequest, ApprovalService, CheckResult, Coverage, ReviewInput } from './types.ts';

export interface ReviewGateOptions {
  /** how long to hold the agent's request waiting for approvers; 0 answers at once. */
  holdMs: number;
  /** why the agent says it needs this (e.g. application_name, a SQL comment, a header) */
  reason?: string;
  /** told before the hold starts, so the agent can be shown which approval it waits for */
  onHold?: (approval: ApprovalRequest) => void;
}

export type ReviewOutcome =
  | { allowed: true; via: CheckResult; approvalId?: string; coverage?: Coverage }
  | { allowed: false; approval?: ApprovalRequest; error: PortcullisError };

export async function gateReview(approvals: ApprovalService, input: ReviewInput, opts: ReviewGateOptions): Promise<ReviewOutcome> {
  try {
    const into: { coverage?: Coverage } = {};
    const covered = await approvals.check(input, into);
    if (covered) return { allowed: true, via: covered, ...(into.coverage ? { coverage: into.coverage } : {}) };
    let approval = await approvals.request({ ...input, ...(opts.reason ? { reason: opts.reason } : {}) });
    if (approval.status === 'pending' && opts.holdMs > 0) {
      opts.onHold?.(approval);
      approval = await approvals.waitFor(approval.id, opts.holdMs);
    }
    if (approval.status === 'approved') {
      const now = await approvals.check(input, into);
      if (now) return { allowed: true, via: now, approvalId: approval.id, ...(into.coverage ? { coverage: into.coverage } : {}) };
      // Another held copy of the same one-shot request consumed it first.
      return { allowed: false, approval, error: refusal(approval, 'was approved for one use, which another connection already made') };
    }
    return { allowed: false, approval, error: refusal(approval) };
  } catch (error) {
    // Fail closed: a broken approval store refuses, it never lets a review through.
    return {
      allowed: false,
      error: new PortcullisError('failed_precondition', 'approvals cannot be checked right now, so the request is refused', {
        cause: error,
        details: { hint: 'retry later; the gateway logs say why the approval store failed' },
      }),
    };
  }
}

function refusal(a: ApprovalRequest, override?: string): PortcullisError {
  const rule = `${a.rule.policy}/${a.rule.rule}`;
  const approval = { id: a.id, status: a.status, approverGroups: a.approverGroups, count: a.count, expiresAt: a.expiresAt };
  if (override) return new PortcullisError('review_required', `approval ${a.id} ${override}; ask again`, { details: { approval } });
  switch (a.status) {
    case 'denied':
      return new PortcullisError('permission_denied', `approval ${a.id} was denied by ${a.denial?.identity}: ${a.denial?.reason}`, {
        details: { approval, hint: 'a denial is final; retrying creates a new request' },
      });
    case 'expired':
      return new PortcullisError('review_required', `approval ${a.id} expired before anyone decided (rule ${rule})`, {
        details: { approval, hint: 'retry to ask again' },
      });
    default:
      return new PortcullisError('review_required', `waiting for approval ${a.id}: needs ${a.count} of ${a.approverGroups.join(', ')} (rule ${rule})`, {
        details: { approval, hint: `an approver runs \`portcullis approvals approve ${a.id}\` or uses the console; then retry the same request` },
      });
  }
}
