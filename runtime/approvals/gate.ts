/**
 * The one call a gateway makes for a `review` decision: is it already covered (a grant, or an
 * approval of this exact request), else ask, hold the request open for a bounded time, and answer
 * either "go ahead as allowed" or the refusal to send the agent.
 */
import { PortcullisError } from '../errors.ts';
import type { ApprovalRequest, ApprovalService, CheckResult, Coverage, ReviewInput } from './types.ts';
import { HOW_TO_STATE_A_REASON } from '../gateway/stated-reason.ts';

export interface ReviewGateOptions {
  /** how long to hold the agent's request waiting for approvers; 0 answers at once. */
  holdMs: number;
  /** why the agent says it needs this (runtime/gateway/stated-reason.ts) */
  reason?: string;
  /** told before the hold starts, so the agent can be shown which approval it waits for */
  onHold?: (approval: ApprovalRequest) => void;
}

export type ReviewOutcome = { allowed: true; via: CheckResult; approvalId?: string; coverage?: Coverage } | { allowed: false; approval?: ApprovalRequest; error: PortcullisError };

export async function gateReview(approvals: ApprovalService, input: ReviewInput, opts: ReviewGateOptions): Promise<ReviewOutcome> {
  try {
    const into: { coverage?: Coverage } = {};
    const covered = await approvals.check(input, into);
    if (covered) return { allowed: true, via: covered, ...(into.coverage ? { coverage: into.coverage } : {}) };
    const review = input.decision.review;
    if (review?.requireReason && !opts.reason) {
      // Approvers are not asked about a request whose agent will not say why.
      return {
        allowed: false,
        error: new PortcullisError(
          'permission_denied',
          `rule ${review.rule.policy}/${review.rule.rule} needs a stated reason before it asks approvers; nothing was run and no approval was requested`,
          {
            details: { hint: HOW_TO_STATE_A_REASON[input.request.protocol] },
          },
        ),
      };
    }
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
    return { allowed: false, approval, error: refusal(approval, undefined, { protocol: input.request.protocol, heldMs: opts.holdMs }) };
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

const notRun: Record<ApprovalRequest['protocol'], string> = {
  postgres: 'the statement was not run',
  http: 'the request was not sent',
  kubernetes: 'the request was not sent',
  mcp: 'the call was not made',
};

function within(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function refusal(a: ApprovalRequest, override?: string, context?: { protocol: ApprovalRequest['protocol']; heldMs: number }): PortcullisError {
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
    default: {
      // Say what happened (nothing ran; no approver decided while the request was held) and what
      // to do next (get it approved, then send the very same request again).
      const what = notRun[context?.protocol ?? a.protocol];
      const held = context && context.heldMs > 0 ? `no approver decided within ${within(context.heldMs)}, ` : '';
      const then = a.grantTtlMs !== undefined ? 'the approval opens a grant, and the same request goes through' : 'the same request goes through once';
      return new PortcullisError('review_required', `${what}: ${held}waiting for approval ${a.id}: needs ${a.count} of ${a.approverGroups.join(', ')} (rule ${rule})`, {
        details: {
          approval,
          hint: `approval ${a.id} stays open until ${a.expiresAt}; once an approver approves it (\`portcullis approvals approve ${a.id}\` or the console), send the same request again: ${then}`,
        },
      });
    }
  }
}
