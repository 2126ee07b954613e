import type { LintRule } from '../types.ts';
import { loaderFindings } from '../loader-findings.ts';

export default {
  id: 'unsupported-regex',
  severity: 'error',
  title: 'A pattern is not valid RE2',
  explanation:
    'Rule conditions (statementPattern, pathPattern, query and arguments) are matched on text the agent controls, by RE2: a linear-time engine, so no pattern and no input can make a decision slow (a backtracking engine takes exponential time on patterns such as ^(\\d|\\d\\d)+$). RE2 has no backreferences (\\1, \\k<name>), no lookahead or lookbehind, no atomic groups or possessive quantifiers, and writes code points as \\x{41} rather than \\u0041. A pattern using them does not load.',
  fix: 'Rewrite the pattern without the construct the message names.',
  fromLoader: true,
  check: (ctx) => loaderFindings(ctx, ['regex']),
} satisfies LintRule;
