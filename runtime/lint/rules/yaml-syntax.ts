import type { LintRule } from '../types.ts';
import { loaderFindings } from '../loader-findings.ts';

export default {
  id: 'yaml-syntax',
  severity: 'error',
  title: 'File is not valid YAML',
  explanation:
    'A policy file that does not parse cannot be loaded, and a gateway refuses a bundle with any unreadable file (it keeps serving the last good one). Typical causes are tabs for indentation, an unclosed quote or bracket, and a duplicated key in one mapping, which YAML would otherwise resolve silently by keeping the last value.',
  fix: 'Fix the syntax at the reported position (the first problem of a document is reported; fix it and lint again).',
  fromLoader: true,
  check: (ctx) => loaderFindings(ctx, ['yaml']),
} satisfies LintRule;
