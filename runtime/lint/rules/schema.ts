import type { LintRule } from '../types.ts';
import { loaderFindings, loaderCodes } from '../loader-findings.ts';

export default {
  id: 'schema',
  severity: 'error',
  title: 'Document does not match its JSON Schema',
  explanation:
    'Every document is validated against the JSON Schema of its kind in schema/. An unknown field is usually a misspelling (a misspelt `when` is a rule without conditions), a wrong enum value or type changes what a rule means, and a missing required field leaves the engine guessing. Nothing loads until every document validates.',
  fix: 'Follow the message and the did-you-mean hint; the schemas in schema/ list every allowed field.',
  fromLoader: true,
  check: (ctx) => [
    ...loaderFindings(ctx, ['schema']),
    ...ctx.loader.filter((d) => !loaderCodes.includes(d.code)).map((d) => ({ message: d.message, at: { file: d.file, line: d.line, column: d.column }, ...(d.hint ? { hint: d.hint } : {}) })),
  ],
} satisfies LintRule;
