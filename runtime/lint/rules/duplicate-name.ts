import type { LintRule } from '../types.ts';
import { loaderFindings } from '../loader-findings.ts';

export default {
  id: 'duplicate-name',
  severity: 'error',
  title: 'Two documents of one kind share a name',
  explanation:
    'Targets, identities, policies, invariants and tests are referred to by `metadata.name`, and decisions name rules as `policy/rule`. Two documents with the same name make those references ambiguous and evidence records impossible to map back to one rule, so the second definition is refused.',
  fix: 'Rename one of the two documents (or merge them).',
  fromLoader: true,
  check: (ctx) => loaderFindings(ctx, ['duplicate']),
} satisfies LintRule;
