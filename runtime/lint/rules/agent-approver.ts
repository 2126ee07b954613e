import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'agent-approver',
  severity: 'warning',
  title: 'An approver group contains agents',
  explanation:
    "Reviews put a human between an agent and a destructive action. An approver group with agent identities in it lets one agent approve another agent's request, possibly in the same automated loop, which defeats the purpose. Approver groups should contain humans only.",
  fix: 'Use a group of human identities as approvers, or take the agents out of the group.',
  check(ctx) {
    const out: RawFinding[] = [];
    const facts = ctx.facts;
    if (!facts) return out;
    for (const e of facts.rules) {
      if (e.rule.effect !== 'review' || !e.rule.review) continue;
      e.rule.review.approvers.groups.forEach((g, i) => {
        const agents = [...(facts.members.get(g) ?? [])].filter((m) => facts.agents.has(m) && !e.identities.has(m));
        if (agents.length === 0) return;
        out.push({
          message: `approver group '${g}' of rule '${e.rule.id}' contains agents: ${agents.join(', ')}`,
          at: { origin: e.policy.origin, pointer: `${e.pointer}/review/approvers/groups/${i}` },
        });
      });
    }
    return out;
  },
} satisfies LintRule;
