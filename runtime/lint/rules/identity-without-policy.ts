import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'identity-without-policy',
  severity: 'info',
  title: 'No policy applies to an agent',
  explanation:
    'An agent identity that no policy names, directly or through one of its groups, can authenticate to the gateway and is denied everything. That is safe; it usually means a group name in the identity or the policy changed, and the agent is about to break.',
  fix: 'Add the agent (or one of its groups) to a policy, or remove the identity.',
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const used = new Set(facts.rules.flatMap((e) => [...e.identities]));
    for (const name of facts.agents) {
      if (!used.has(name)) out.push({ message: `no policy applies to agent '${name}'`, at: { origin: bundle.identities.get(name)!.origin, pointer: '/metadata/name' } });
    }
    return out;
  },
} satisfies LintRule;
