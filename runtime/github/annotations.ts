/**
 * Check-run annotations from the reports: lint findings, failed test cases, broken invariants,
 * recorded requests whose change fails a gate, permission widenings and safety changes - each
 * where a reviewer would fix it.
 */
import type { PermissionDiff } from '../diff/permissions.ts';
import type { LintReport } from '../lint/types.ts';
import type { TestReport } from '../policytest/types.ts';
import type { SafetyReport } from '../safety/types.ts';
import type { SimulateReport } from '../simulate/types.ts';
import type { CheckAnnotation } from './checks.ts';

const level = { error: 'failure', warning: 'warning', info: 'notice' } as const;

export interface Reports {
  lint?: LintReport;
  test?: TestReport;
  simulate?: SimulateReport;
  diff?: PermissionDiff;
  safety?: SafetyReport;
  /** the designated owners approved the widening and the safety changes */
  approved?: boolean;
}

export function annotationsOf(reports: Reports): CheckAnnotation[] {
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
    out.push({
      path: i.file,
      line: i.line,
      level: 'failure',
      title: `invariant broken: ${i.name}${i.from === 'base' ? ' (base)' : ''}`,
      message: `${c.identity} on ${c.target}: ${c.request}\n${c.violation}`,
    });
  }
  for (const g of reports.simulate?.replay?.groups ?? []) {
    if (g.count === 0 || g.gate === 'pass') continue;
    for (const b of g.buckets ?? []) {
      if (!b.file || !b.line) continue;
      out.push({
        path: b.file,
        line: b.line,
        level: g.gate === 'fail' ? 'failure' : 'warning',
        title: `recorded requests ${g.kind}: ${b.count}`,
        message: `${b.count} recorded request(s) of ${b.identity} on ${b.target}: ${b.change}${b.masks ? `; ${b.masks.join(', ')}` : ''}\ne.g. ${b.example.request}`,
      });
    }
  }
  for (const c of reports.diff?.changes ?? []) {
    if (c.direction !== 'widen') continue;
    out.push({
      path: c.file,
      line: c.line,
      level: reports.approved ? 'notice' : 'failure',
      title: `permission widened: ${c.action} ${c.resource} on ${c.target}`,
      message: `${c.identities.join(', ')}: ${c.what.join('; ')}\ne.g. ${c.example}`,
    });
  }
  for (const c of reports.safety?.changes ?? []) {
    out.push({ path: c.file, line: c.line, level: c.weakens && reports.safety?.failed ? 'failure' : 'notice', title: `safety configuration changed: ${c.kind}`, message: c.message });
  }
  return out;
}
