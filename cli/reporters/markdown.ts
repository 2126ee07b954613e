/**
 * Markdown for pull-request comments and job summaries: what a reviewer needs to judge a policy
 * change - exposure first, then breakage - with examples, and nothing a terminal would need.
 */
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';
import type { ChangeKind, SimulateReport } from '../../runtime/simulate/types.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s.replace(/`/g, "'").slice(0, 200)}\``;
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

const titles: Record<ChangeKind, string> = {
  newlyAllowed: 'Newly allowed (exposure)',
  maskRemoved: 'Mask removed (exposure)',
  newlyDenied: 'Newly denied (agents will break)',
  newlyReviewed: 'Newly needs review',
  maskAdded: 'Mask added',
};

export function simulateMarkdown(r: SimulateReport): string {
  const out = [`### ${icon(r.passed)} Simulation`];
  const p = r.replay;
  if (p) {
    out.push('', `Replayed ${p.requests} recorded request(s) from ${p.sessions} session(s) against \`${p.base}\` → \`${p.head}\`; ${p.unchanged} unchanged.`);
    const changed = p.groups.filter((g) => g.count > 0);
    if (changed.length === 0) out.push('', 'No recorded request changes decision.');
    else {
      out.push('', '| change | requests | gate |', '| --- | --- | --- |');
      for (const g of changed) out.push(`| ${titles[g.kind]} | ${g.count} | ${g.gate === 'fail' ? '❌ fail' : g.gate} |`);
      for (const g of changed) {
        out.push('', `<details${g.gate === 'fail' ? ' open' : ''}><summary>${titles[g.kind]}: ${g.count}</summary>`, '', '| agent | target | request | base → head | rule |', '| --- | --- | --- | --- | --- |');
        for (const e of g.examples) {
          const change = `${e.base.effect} → ${e.head.effect}${e.masks ? `; ${e.masks.join(', ')}` : ''}`;
          out.push(`| ${cell(e.identity)} | ${cell(e.target)} | ${cell(code(e.request))} | ${cell(change)} | ${cell(e.head.rules.join(', ') || e.base.rules.join(', '))} |`);
        }
        out.push('', '</details>');
      }
    }
  } else out.push('', 'Replay skipped: no base revision.');
  if (r.invariants.length) {
    out.push('', '| invariant | result |', '| --- | --- |');
    for (const i of r.invariants) {
      if (i.holds) out.push(`| \`${i.name}\` | ✅ holds (${i.runs} requests) |`);
      else {
        const c = i.counterexample!;
        out.push(`| \`${i.name}\` | ❌ ${cell(`${c.identity} on ${c.target}: `)}${cell(code(c.request))} - ${cell(c.violation)} |`);
      }
    }
    out.push('', `Seed ${r.seed}: reproduce with \`portcullis simulate --seed ${r.seed}\`.`);
  }
  return `${out.join('\n')}\n`;
}
