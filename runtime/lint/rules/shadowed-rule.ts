import type { LintRule, RawFinding } from '../types.ts';
import { coveringPairs } from '../covering.ts';
import { ruleName } from '../context.ts';

export default {
  id: 'shadowed-rule',
  severity: 'warning',
  title: 'A rule can never decide because a stricter rule always matches too',
  explanation:
    'A review rule whose every request is also matched by an unconditional deny rule never asks anyone: the request is denied. An allow rule whose every request is also matched by an unconditional review rule never allows on its own: every request waits for approval. Such a rule is unreachable; its presence suggests the author expected it to take effect. (An allow covered by a deny has its own rule, allow-overridden-by-deny.)',
  fix: 'Narrow the stricter rule, or remove the unreachable one.',
  check(ctx) {
    const out: RawFinding[] = [];
    if (!ctx.facts) return out;
    const seen = new Set<string>();
    for (const { a, b } of coveringPairs(ctx.facts)) {
      const shadowed = (a.rule.effect === 'review' && b.rule.effect === 'deny') || (a.rule.effect === 'allow' && b.rule.effect === 'review');
      if (!shadowed || seen.has(ruleName(a))) continue;
      seen.add(ruleName(a));
      out.push({
        message: `rule '${a.rule.id}' (${a.rule.effect}) is unreachable: ${b.rule.effect} rule ${ruleName(b)} matches every request it matches`,
        at: { origin: a.policy.origin, pointer: a.pointer },
      });
    }
    return out;
  },
} satisfies LintRule;
