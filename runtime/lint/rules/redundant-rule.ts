import type { LintRule, RawFinding } from '../types.ts';
import { coveringPairs } from '../covering.ts';
import { ruleName } from '../context.ts';
import { canonicalJson } from '../../bundle/revision.ts';
import { isDuplicate } from './duplicate-rule.ts';

export default {
  id: 'redundant-rule',
  severity: 'warning',
  title: 'A rule adds nothing: a broader rule with the same effect covers it',
  explanation:
    'Effects do not depend on rule order, so a rule whose every request is matched by another rule with the same effect changes no decision - unless it contributes something of its own: masks (they accumulate), a maxRows limit, or different review settings. A redundant rule misleads reviewers into thinking narrowing it would restrict access, when the broader rule still grants it.',
  fix: 'Delete the narrower rule, or narrow the broader one if it grants more than intended.',
  check(ctx) {
    const out: RawFinding[] = [];
    if (!ctx.facts) return out;
    const seen = new Set<string>();
    for (const { a, b } of coveringPairs(ctx.facts)) {
      if (a.rule.effect !== b.rule.effect || seen.has(ruleName(a)) || isDuplicate(a, b)) continue;
      if ((a.rule.mask ?? []).length > 0 || a.rule.when?.maxRows !== undefined) continue;
      if (a.rule.effect === 'review' && canonicalJson(a.rule.review ?? null) !== canonicalJson(b.rule.review ?? null)) continue;
      seen.add(ruleName(a));
      out.push({
        message: `rule '${a.rule.id}' is redundant: ${b.rule.effect} rule ${ruleName(b)} (${b.policy.origin.file}:${b.policy.origin.locate(b.pointer).line}) already matches every request it matches`,
        at: { origin: a.policy.origin, pointer: a.pointer },
      });
    }
    return out;
  },
} satisfies LintRule;
