/** Check-run annotations from the three reports: lint findings, failed test cases, broken invariants. */
import type { LintReport } from '../lint/types.ts';
import type { TestReport } from '../policytest/types.ts';
import type { SimulateReport } from '../simulate/types.ts';
import type { CheckAnnotation } from './checks.ts';

const level = { error: 'failure', warning: 'warning', info: 'notice' } as const;

export function annotationsOf(reports: { lint?: LintReport; test?: TestReport; simulate?: SimulateReport }): CheckAnnotation[] {
  const out: CheckAnnotation[] = [];
  for (const f of reports.lint?.findings ?? []) {
    out.push({ path: f.file, line: f.line, column: f.column, level: level[f.severity], title: `lint: ${f.rule}`, message: f.hint ? `${f.message}\nFix: ${f.hint}` : f.message });
  }
  for (const c of reports.test?.cases ?? []) {
    if (!c.passed) out.push({ path: c.file, line: c.line, level: 'failure', title: `policy test failed: ${c.name}`, message: c.problems.join('\n') });
  }
  for (const i of reports.simulate?.invariants ?? []) {
    const c = i.counterexample;
    if (i.holds || !c) continue;
    out.push({ path: i.file, line: i.line, level: 'failure', title: `invariant broken: ${i.name}`, message: `${c.identity} on ${c.target}: ${c.request}\n${c.violation}` });
  }
  return out;
}

export function failed(reports: { lint?: LintReport; test?: TestReport; simulate?: SimulateReport }): boolean {
  return (reports.lint?.counts.error ?? 0) > 0 || (reports.test ? reports.test.failed > 0 || reports.test.belowThreshold : false) || (reports.simulate ? !reports.simulate.passed : false);
}
