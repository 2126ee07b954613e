/**
 * The gateway's bundle gate: only a bundle that `portcullis lint` passes goes live. The same loader
 * and the same lint catalogue as the CLI, on the same files: warnings pass, reasoned suppressions are
 * honoured, and any error keeps the bundle out (the caller keeps the last good one, or serves none).
 */
import { resolve as resolvePath } from 'node:path';
import { compileBundle, readPolicyFiles, type LoadOptions } from '../bundle/load.ts';
import { gitState } from '../bundle/revision.ts';
import type { Diagnostic } from '../bundle/diagnostics.ts';
import type { Bundle } from '../bundle/model.ts';
import { lintFiles } from './run.ts';
import { rules } from './catalogue.ts';

export interface GatedBundle {
  /** present only when the bundle loaded and lint found no error */
  bundle?: Bundle;
  /** why not: the loader's errors, or lint's (code = the lint rule) */
  errors: Diagnostic[];
  /** which check refused it */
  stage?: 'load' | 'lint';
  /** what lint let through, for the record */
  lint?: { warnings: number; suppressed: number };
}

export async function loadLintedBundle(dir: string, options: LoadOptions & { acceptLintErrors?: boolean } = {}): Promise<GatedBundle> {
  const root = resolvePath(dir);
  const files = await readPolicyFiles(dir);
  const compiled = compileBundle(root, files, { git: options.git ?? gitState(root) });
  if (!compiled.bundle) return { errors: compiled.diagnostics.filter((d) => d.severity === 'error'), stage: 'load' };
  const report = lintFiles(root, files, rules, compiled);
  const lint = { warnings: report.counts.warning, suppressed: report.suppressed.length };
  const errors: Diagnostic[] = report.findings
    .filter((f) => f.severity === 'error')
    .map((f) => ({ code: f.rule, severity: f.severity, file: f.file, line: f.line, column: f.column, message: f.message, ...(f.hint ? { hint: f.hint } : {}) }));
  if (errors.length > 0 && !options.acceptLintErrors) return { errors, stage: 'lint', lint };
  return { bundle: compiled.bundle, errors: [], lint };
}
