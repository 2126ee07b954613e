/**
 * GitHub Actions workflow commands (`::error file=...::message`): findings become annotations on
 * the pull request's diff without any token. Values are escaped as the runner expects.
 */
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';

const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const property = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
const level = { error: 'error', warning: 'warning', info: 'notice' } as const;

export function annotation(kind: 'error' | 'warning' | 'notice', file: string, line: number, column: number | undefined, title: string, message: string): string {
  const col = column !== undefined ? `,col=${column}` : '';
  return `::${kind} file=${property(file)},line=${line}${col},title=${property(title)}::${data(message)}`;
}

export function lintGithub(r: LintReport): string {
  const lines = r.findings.map((f) => annotation(level[f.severity], f.file, f.line, f.column, `portcullis ${f.rule}`, f.hint ? `${f.message}\nhint: ${f.hint}` : f.message));
  lines.push(`portcullis lint: ${r.counts.error} errors, ${r.counts.warning} warnings, ${r.counts.info} info in ${r.files} files`);
  return `${lines.join('\n')}\n`;
}

export function testGithub(r: TestReport): string {
  const lines = r.cases.filter((c) => !c.passed).map((c) => annotation('error', c.file, c.line, undefined, `policy test failed: ${c.name}`, c.problems.join('\n')));
  if (r.belowThreshold) lines.push(`::error title=portcullis rule coverage::rule coverage ${r.coverage.percent}% is below the threshold ${r.threshold}%`);
  lines.push(`portcullis test: ${r.passed} passed, ${r.failed} failed, rule coverage ${r.coverage.percent}%`);
  return `${lines.join('\n')}\n`;
}
