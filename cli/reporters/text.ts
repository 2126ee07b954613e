/** Plain text for terminals and logs: one line per finding or failure, the summary last. */
import { formatDiagnostic } from '../../runtime/bundle/diagnostics.ts';
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function lintText(r: LintReport): string {
  const lines = r.findings.map((f) => formatDiagnostic({ code: f.rule, severity: f.severity, message: f.message, file: f.file, line: f.line, column: f.column, ...(f.hint ? { hint: f.hint } : {}) }));
  const { error, warning, info } = r.counts;
  const suppressed = r.suppressed.length ? `, ${r.suppressed.length} suppressed` : '';
  lines.push(`${plural(r.files, 'file')} linted in ${r.durationMs} ms: ${plural(error, 'error')}, ${plural(warning, 'warning')}, ${info} info${suppressed}`);
  return `${lines.join('\n')}\n`;
}

export function testText(r: TestReport): string {
  const lines: string[] = [];
  for (const c of r.cases) {
    if (c.passed) lines.push(`ok    ${c.test} / ${c.name}`);
    else {
      lines.push(`FAIL  ${c.test} / ${c.name} (${c.file}:${c.line})`);
      for (const p of c.problems) lines.push(`      ${p}`);
    }
  }
  lines.push('');
  lines.push(`${plural(r.cases.length, 'case')}: ${r.passed} passed, ${r.failed} failed`);
  const cov = r.coverage;
  lines.push(`rule coverage: ${cov.exercised}/${cov.total} rules (${cov.percent}%)${r.threshold !== undefined ? `, threshold ${r.threshold}%${r.belowThreshold ? ' - BELOW THRESHOLD' : ''}` : ''}`);
  for (const u of cov.uncovered) lines.push(`  not exercised: ${u.rule} (${u.file}:${u.line})`);
  return `${lines.join('\n')}\n`;
}

export { simulateText } from './simulate.ts';
