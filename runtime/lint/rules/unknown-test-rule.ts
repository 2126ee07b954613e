import type { LintRule, RawFinding } from '../types.ts';
import { ruleName } from '../context.ts';
import { didYouMean } from '../../bundle/diagnostics.ts';

export default {
  id: 'unknown-test-rule',
  severity: 'error',
  title: 'A policy test expects a rule that does not exist',
  explanation:
    'Test cases name the rules they expect to decide as `policy/rule`. A name that matches no rule (a renamed policy or rule id, a typo) makes the case fail for the wrong reason, or, worse, gets deleted from the test to make it pass. Every expected rule must exist.',
  fix: 'Use the policy name and rule id as they are now (see the did-you-mean hint).',
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const names = new Set(facts.rules.map(ruleName));
    for (const test of bundle.tests) {
      test.doc.spec.cases.forEach((c, i) => {
        (c.expect.rules ?? []).forEach((r, j) => {
          if (names.has(r)) return;
          const guess = didYouMean(r, names);
          out.push({
            message: `test '${c.name}' expects rule '${r}', which does not exist`,
            at: { origin: test.origin, pointer: `/spec/cases/${i}/expect/rules/${j}` },
            ...(guess ? { hint: `did you mean '${guess}'?` } : {}),
          });
        });
      });
    }
    return out;
  },
} satisfies LintRule;
