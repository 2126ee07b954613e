/** Plain text for terminals and logs: one line per finding or failure, the summary last. */
import { formatDiagnostic } from '../../runtime/bundle/diagnostics.ts';
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';
import type { SimulateReport } from '../../runtime/simulate/types.ts';

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

const kindTitle = {
  newlyAllowed: 'newly allowed',
  maskRemoved: 'mask removed',
  newlyDenied: 'newly denied',
  newlyReviewed: 'newly needs review',
  maskAdded: 'mask added',
} as const;

export function simulateText(r: SimulateReport): string {
  const lines: string[] = [];
  if (r.replay) {
    const p = r.replay;
    lines.push(`replay ${p.base} -> ${p.head}: ${plural(p.requests, 'recorded request')} in ${plural(p.sessions, 'session')}, ${p.unchanged} unchanged`);
    for (const g of p.groups) {
      if (g.count === 0) continue;
      lines.push(`  ${kindTitle[g.kind]}: ${g.count} [${g.gate}]`);
      for (const e of g.examples) {
        lines.push(`    ${e.identity} on ${e.target}: ${e.request}`);
        lines.push(`      ${e.base.effect} -> ${e.head.effect}${e.masks ? `; ${e.masks.join(', ')}` : ''}${e.head.rules.length ? ` (${e.head.rules.join(', ')})` : ''}`);
      }
    }
    if (p.groups.every((g) => g.count === 0)) lines.push('  no recorded request changes decision');
  } else {
    lines.push('replay: skipped (no --base, or no policy files at the base revision)');
  }
  for (const i of r.invariants) {
    if (i.holds) {
      lines.push(`invariant ${i.name}: holds (${plural(i.runs, 'request')} checked${i.skipped ? `; ${i.skipped}` : ''})`);
      continue;
    }
    const c = i.counterexample!;
    lines.push(`invariant ${i.name}: BROKEN (${i.file}:${i.line})`);
    lines.push(`  ${c.source === 'recording' ? `recorded request ${c.sessionId}#${c.seq}` : `counterexample after ${plural(c.shrinks ?? 0, 'shrink')}`}: ${c.identity} on ${c.target}: ${c.request}`);
    lines.push(`  ${c.violation}`);
  }
  lines.push(`seed ${r.seed} (reproduce with --seed ${r.seed}); ${r.passed ? 'passed' : 'FAILED'}`);
  return `${lines.join('\n')}\n`;
}
