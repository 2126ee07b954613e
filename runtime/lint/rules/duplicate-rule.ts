import type { LintRule, RawFinding } from '../types.ts';
import { before, coveringPairs } from '../covering.ts';
import { ruleName } from '../context.ts';
import { sameScope } from '../scope.ts';
import { canonicalJson } from '../../bundle/revision.ts';

export default {
  id: 'duplicate-rule',
  severity: 'warning',
  title: 'Two rules are identical',
  explanation:
    'Two rules with the same subjects, targets, actions, resources, namespaces, conditions, effect, masks and review settings are one rule written twice, usually after a copy and paste. They behave as one today, but the next edit will change only one of them and the policy will no longer say what its reader thinks.',
  fix: 'Delete one of the two rules.',
  check(ctx) {
    const out: RawFinding[] = [];
    if (!ctx.facts) return out;
    for (const { a, b } of coveringPairs(ctx.facts)) {
      if (!before(b, a) || !isDuplicate(a, b)) continue;
      out.push({
        message: `rule '${a.rule.id}' duplicates rule ${ruleName(b)} (${b.policy.origin.file}:${b.policy.origin.locate(b.pointer).line})`,
        at: { origin: a.policy.origin, pointer: a.pointer },
      });
    }
    return out;
  },
} satisfies LintRule;

export function isDuplicate(a: { rule: { effect: string; mask?: unknown; review?: unknown } } & Parameters<typeof sameScope>[0], b: Parameters<typeof sameScope>[0]): boolean {
  return (
    a.rule.effect === b.rule.effect &&
    sameScope(a, b) &&
    canonicalJson(a.rule.mask ?? []) === canonicalJson(b.rule.mask ?? []) &&
    canonicalJson(a.rule.review ?? null) === canonicalJson(b.rule.review ?? null)
  );
}
