import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'orphan-target',
  severity: 'info',
  title: 'No policy covers a target',
  explanation:
    'A registered target that no policy names or selects is reachable through the gateway, but every request to it is denied by default. That is safe, and usually a sign of a policy that was renamed or a target registered ahead of its policies.',
  fix: 'Add a policy for the target, or remove the target registration if it is no longer used.',
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const used = new Set(facts.rules.flatMap((e) => e.targets.map((t) => t.doc.metadata.name)));
    for (const [name, t] of bundle.targets) {
      if (!used.has(name)) out.push({ message: `no policy covers target '${name}': every request to it is denied`, at: { origin: t.origin, pointer: '/metadata/name' } });
    }
    return out;
  },
} satisfies LintRule;
