/**
 * Refusal facts: the PortcullisError for a deny or an unapproved review, naming the rules and the
 * policy commit that made it. Protocol-neutral; each adapter's refusal.ts renders it natively
 * (a problem document, a Kubernetes Status, a JSON-RPC error, an ErrorResponse).
 */
import { PortcullisError } from '../errors.ts';
import type { Decision, RuleRef } from '../engine/decision.ts';

function ruleNames(rules: readonly RuleRef[]): string[] {
  return rules.map((r) => `${r.policy}/${r.rule}`);
}

function commitText(decision: Decision): string {
  const c = decision.revision.commit;
  return c ? `policy commit ${c.slice(0, 12)}${decision.revision.dirty ? ' (dirty)' : ''}` : `policy digest ${decision.revision.digest.slice(0, 12)} (not a git repo)`;
}

/** The refusal for a deny or review decision, naming the rules and the commit that made it. */
export function refusalOf(decision: Decision): PortcullisError {
  const rules = ruleNames(decision.rules);
  const revision = { commit: decision.revision.commit, digest: decision.revision.digest, dirty: decision.revision.dirty };
  if (decision.effect === 'review') {
    return new PortcullisError('review_required', `${decision.reason}; approvals are not available on this gateway yet, so the request is refused (${commitText(decision)})`, {
      details: { rules, revision, approval: { id: null, approverGroups: decision.review?.approverGroups ?? [], count: decision.review?.count ?? 1 } },
    });
  }
  return new PortcullisError('permission_denied', `${decision.reason} (${commitText(decision)})`, { details: { rules, revision } });
}
