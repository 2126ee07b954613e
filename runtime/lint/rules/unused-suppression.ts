import type { LintRule } from '../types.ts';

export default {
  id: 'unused-suppression',
  severity: 'warning',
  title: 'A suppression silences nothing',
  explanation:
    '`suppress: [{rule: ID, reason: ...}]` on a target, identity, policy, rule or invariant silences one lint rule there, with a reason a reviewer can judge. When the finding it was written for is gone (the rule was fixed) or it names a rule that does not exist, the suppression is stale: left in place, it would silently hide the next real finding of that rule. The runner reports these; this rule has no check of its own.',
  fix: 'Delete the suppression, or correct the rule id it names.',
  check: () => [],
} satisfies LintRule;
