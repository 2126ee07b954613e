import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'review-without-approvers',
  severity: 'error',
  title: 'A review can never be approved',
  explanation:
    'A review rule waits for `count` approvals from humans in its approver groups. If those groups have no human identity in them, or fewer humans than `count`, no request under the rule can ever be approved: agents hang until the review times out, and people end up widening another rule to an allow to unblock them. Agents never count as approvers.',
  fix: 'Add human identities to the approver groups, name a group that has enough humans, or lower approvers.count.',
  check(ctx) {
    const out: RawFinding[] = [];
    const facts = ctx.facts;
    if (!facts) return out;
    for (const e of facts.rules) {
      const review = e.rule.review;
      if (e.rule.effect !== 'review' || !review) continue;
      const humans = new Set<string>();
      for (const g of review.approvers.groups) for (const m of facts.members.get(g) ?? []) if (facts.humans.has(m)) humans.add(m);
      const count = review.approvers.count ?? 1;
      if (humans.size === 0) {
        out.push({
          message: `rule '${e.rule.id}' needs approval from ${review.approvers.groups.join(', ')}, which contain no human identity`,
          at: { origin: e.policy.origin, pointer: `${e.pointer}/review/approvers/groups` },
        });
      } else if (humans.size < count) {
        out.push({
          message: `rule '${e.rule.id}' needs ${count} approvals but only ${humans.size} human${humans.size === 1 ? ' is' : 's are'} in ${review.approvers.groups.join(', ')}`,
          at: { origin: e.policy.origin, pointer: `${e.pointer}/review/approvers` },
        });
      }
    }
    return out;
  },
} satisfies LintRule;
