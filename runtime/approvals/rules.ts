/**
 * Who may decide an approval request, and when. Pure functions shared by every backend, so the file
 * store and a PostgreSQL store cannot disagree on the rules.
 */
import { PortcullisError } from '../errors.ts';
import type { AuthenticatedSubject } from '../gateway/context.ts';
import type { ApprovalRequest } from './types.ts';

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
