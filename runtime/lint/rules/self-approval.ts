import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'self-approval',
  severity: 'error',
  title: 'The requesters of a review are among its approvers',
  explanation:
    'A review exists so that someone other than the requester decides. When an identity the rule applies to is also in one of its approver groups, the requester can approve its own request (an agent approving itself, or a human waving through their own agent-assisted session), and the review is a formality. This is reported when the subjects of the rule and the members of its approver groups overlap.',
  fix: 'Use approver groups that do not contain the subjects of the rule.',
  check(ctx) {
    const out: RawFinding[] = [];
    const facts = ctx.facts;
    if (!facts) return out;
    for (const e of facts.rules) {
      const review = e.rule.review;
      if (e.rule.effect !== 'review' || !review) continue;
      review.approvers.groups.forEach((g, i) => {
        const both = [...(facts.members.get(g) ?? [])].filter((m) => e.identities.has(m));
        if (both.length === 0) return;
        out.push({
          message: `rule '${e.rule.id}': ${both.join(', ')} can approve ${both.length === 1 ? 'its' : 'their'} own requests (member of approver group '${g}' and a subject of the policy)`,
          at: { origin: e.policy.origin, pointer: `${e.pointer}/review/approvers/groups/${i}` },
        });
      });
    }
    return out;
  },
} satisfies LintRule;
