/** The bundle loader already checks shape and references; these rules re-publish its diagnostics. */
import type { LintContext } from './context.ts';
import type { RawFinding } from './types.ts';

export function loaderFindings(ctx: LintContext, codes: readonly string[]): RawFinding[] {
  return ctx.loader
    .filter((d) => codes.includes(d.code))
    .map((d) => ({
      message: d.message,
      at: { file: d.file, line: d.line, column: d.column },
      ...(d.hint ? { hint: d.hint } : {}),
      ...(d.severity !== 'error' ? { severity: d.severity } : {}),
    }));
}

/** Loader codes that have their own rule; anything else is reported as a schema problem. */
export const loaderCodes = ['yaml', 'schema', 'unresolved-reference', 'duplicate', 'inline-secret', 'regex'];
