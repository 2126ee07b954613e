/**
 * Policy unit tests: every PolicyTest case becomes engine requests through the same request
 * builders `portcullis decide` uses, and is decided by `decide` itself - the gateway's engine, not
 * a model of it. A multi-statement SQL case is decided statement by statement, as the gateway does.
 */
import type { Bundle } from '../bundle/model.ts';
import { decide } from '../engine/decide.ts';
import type { Decision, Effect, Mask } from '../engine/decision.ts';
import { buildRequests } from '../requests/build.ts';
import { PortcullisError } from '../errors.ts';
import { coverageOf } from './coverage.ts';
import { maskCovers } from './masks.ts';
import type { CaseResult, TestReport } from './types.ts';

const rank: Record<Effect, number> = { allow: 0, review: 1, deny: 2 };

export function runPolicyTests(bundle: Bundle, options: { threshold?: number } = {}): TestReport {
  const started = performance.now();
  const cases: CaseResult[] = [];
  const exercised = new Set<string>();
  for (const test of bundle.tests) {
    test.doc.spec.cases.forEach((c, i) => {
      const { line } = test.origin.locate(`/spec/cases/${i}`);
      const result: CaseResult = { test: test.doc.metadata.name, name: c.name, file: test.origin.file, line, passed: false, expected: c.expect, problems: [] };
      cases.push(result);
      let decisions: Decision[];
      try {
        const requests = buildRequests(bundle, {
          as: c.as,
          target: c.target,
          ...(c.sql !== undefined ? { sql: c.sql } : {}),
          ...(c.http !== undefined ? { http: c.http } : {}),
          ...(c.k8s !== undefined ? { k8s: c.k8s } : {}),
          ...(c.mcp !== undefined ? { mcp: c.mcp } : {}),
          ...(c.at !== undefined ? { at: c.at } : {}),
        });
        decisions = requests.map((r) => decide(bundle, r));
      } catch (err) {
        result.problems.push(`the request could not be built: ${PortcullisError.from(err).describe()}`);
        return;
      }
      const d = combine(decisions);
      for (const r of d.rules) exercised.add(r);
      for (const m of d.masks) if (!m.source.startsWith('classification:')) exercised.add(m.source);
      result.actual = { effect: d.effect, rules: d.rules, masks: unique(d.masks.map(describeMask)), reason: d.reason };
      if (d.effect !== c.expect.effect) result.problems.push(`expected ${c.expect.effect}, got ${d.effect} (${d.reason})`);
      if (c.expect.rules) {
        const missing = c.expect.rules.filter((r) => !d.rules.includes(r));
        const extra = d.rules.filter((r) => !c.expect.rules!.includes(r));
        if (missing.length || extra.length) {
          result.problems.push(`expected rules [${c.expect.rules.join(', ')}], got [${d.rules.join(', ')}]`);
        }
      }
      for (const want of c.expect.masks ?? []) {
        if (!d.masks.some((m) => maskCovers(m, want))) result.problems.push(`expected ${want} to be masked; masks are [${unique(d.masks.map(describeMask)).join(', ') || 'none'}]`);
      }
      result.passed = result.problems.length === 0;
    });
  }
  const coverage = coverageOf(bundle, exercised);
  const threshold = options.threshold ?? bundle.repository.spec?.coverageThreshold;
  const passed = cases.filter((c) => c.passed).length;
  return {
    root: bundle.root,
    cases,
    passed,
    failed: cases.length - passed,
    coverage,
    ...(threshold !== undefined ? { threshold } : {}),
    belowThreshold: threshold !== undefined && coverage.percent < threshold,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Decisions of one case's statements: the strictest effect, and every rule and mask involved. */
function combine(decisions: Decision[]): { effect: Effect; rules: string[]; masks: Mask[]; reason: string } {
  let effect: Effect = 'allow';
  for (const d of decisions) if (rank[d.effect] > rank[effect]) effect = d.effect;
  const deciding = decisions.filter((d) => d.effect === effect);
  return {
    effect,
    rules: unique(deciding.flatMap((d) => d.rules.map((r) => `${r.policy}/${r.rule}`))),
    masks: decisions.flatMap((d) => d.masks),
    reason: deciding.map((d) => d.reason).join('; '),
  };
}

export function describeMask(m: Mask): string {
  return m.kind === 'column' ? m.pattern.replace(/^\*\./, '') : m.kind === 'field' ? m.pattern : `${m.kind}:${m.pattern}`;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
