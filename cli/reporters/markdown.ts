/**
 * Markdown for pull-request comments and job summaries: what a reviewer needs to judge a policy
 * change - exposure first, then breakage - with examples, and nothing a terminal would need.
 */
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const icon = (ok: boolean) => (ok ? '✅' : '❌');

export function lintMarkdown(r: LintReport): string {
  const ok = r.counts.error === 0;
  const out = [`### ${icon(ok)} Lint: ${r.counts.error} errors, ${r.counts.warning} warnings, ${r.counts.info} info (${r.files} files)`];
  if (r.findings.length > 0) {
    out.push('', '| severity | rule | where | finding |', '| --- | --- | --- | --- |');
    for (const f of r.findings.slice(0, 50)) out.push(`| ${f.severity} | \`${f.rule}\` | ${cell(`${f.file}:${f.line}`)} | ${cell(f.message)} |`);
    if (r.findings.length > 50) out.push('', `…and ${r.findings.length - 50} more (see the check run).`);
  }
  if (r.suppressed.length > 0) out.push('', `${r.suppressed.length} finding(s) suppressed in-file with a reason.`);
  return `${out.join('\n')}\n`;
}

export function testMarkdown(r: TestReport): string {
  const ok = r.failed === 0 && !r.belowThreshold;
  const out = [`### ${icon(ok)} Policy tests: ${r.passed} passed, ${r.failed} failed; rule coverage ${r.coverage.percent}%${r.threshold !== undefined ? ` (threshold ${r.threshold}%)` : ''}`];
  const failed = r.cases.filter((c) => !c.passed);
  if (failed.length) {
    out.push('', '| case | where | problem |', '| --- | --- | --- |');
    for (const c of failed) out.push(`| ${cell(`${c.test} / ${c.name}`)} | ${cell(`${c.file}:${c.line}`)} | ${cell(c.problems.join('; '))} |`);
  }
  if (r.coverage.uncovered.length) {
    out.push('', `<details><summary>${r.coverage.uncovered.length} rule(s) no test exercises</summary>`, '');
    for (const u of r.coverage.uncovered) out.push(`- \`${u.rule}\` (${u.file}:${u.line})`);
    out.push('', '</details>');
  }
  return `${out.join('\n')}\n`;
}

export { simulateMarkdown } from './simulate.ts';
