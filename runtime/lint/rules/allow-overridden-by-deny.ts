import type { LintRule, RawFinding } from '../types.ts';
import { coveringPairs } from '../covering.ts';
import { ruleName } from '../context.ts';

export default {
  id: 'allow-overridden-by-deny',
  severity: 'warning',
  title: 'An allow rule is fully overridden by a deny rule',
  explanation:
    'Deny beats review beats allow, whatever the order of rules and files. When an unconditional deny rule covers every subject, target, action, resource and namespace of an allow rule, the allow never takes effect: every request it matches is denied. Either the allow is dead code, or the deny is broader than intended and is blocking what the allow was written for.',
  fix: 'Narrow the deny rule (resources, namespaces, conditions) so the allowed requests fall outside it, or delete the allow rule.',
  check(ctx) {
    const out: RawFinding[] = [];
    if (!ctx.facts) return out;
    const seen = new Set<string>();
    for (const { a, b } of coveringPairs(ctx.facts)) {
      if (a.rule.effect !== 'allow' || b.rule.effect !== 'deny' || seen.has(ruleName(a))) continue;
      seen.add(ruleName(a));
      out.push({
        message: `rule '${a.rule.id}' can never allow anything: deny rule ${ruleName(b)} (${b.policy.origin.file}:${b.policy.origin.locate(b.pointer).line}) matches every request it matches`,
        at: { origin: a.policy.origin, pointer: a.pointer },
      });
    }
    return out;
  },
} satisfies LintRule;
