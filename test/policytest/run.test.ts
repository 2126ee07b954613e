/** Policy tests run with the engine: pass/fail with file:line, rule expectations, masks, coverage. */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileBundle, loadBundle } from '../../runtime/bundle/load.ts';
import { runPolicyTests } from '../../runtime/policytest/run.ts';
import { repo } from '../lint/fixture.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function bundleWith(cases: string) {
  const tests = `apiVersion: portcullis.dev/v1\nkind: PolicyTest\nmetadata: { name: t }\nspec:\n  cases:\n${cases}`;
  const { bundle, diagnostics } = compileBundle('/fixture', repo({ 'tests.yaml': tests }));
  if (!bundle) throw new Error(JSON.stringify(diagnostics));
  return bundle;
}

describe('policy tests', () => {
  it("the example repo's tests pass", async () => {
    const report = runPolicyTests(await loadBundle(`${root}policies`));
    expect(report.failed).toBe(0);
    expect(report.cases.length).toBeGreaterThan(5);
  });

  it('reports a wrong effect, wrong rules and a missing mask with file:line', () => {
    const report = runPolicyTests(
      bundleWith(`    - name: reads catalog
      as: bot
      target: db
      sql: select * from catalog
      expect: { effect: allow, rules: [base/read] }
    - name: wrong expectations
      as: bot
      target: db
      sql: select * from catalog
      expect: { effect: deny, rules: [base/nope], masks: [customers.email, orders.secret] }
`),
    );
    expect(report.cases.map((c) => c.passed)).toEqual([true, false]);
    const bad = report.cases[1]!;
    expect(bad.file).toBe('tests.yaml');
    expect(bad.line).toBe(11);
    expect(bad.problems).toEqual([expect.stringMatching(/^expected deny, got allow/), 'expected rules [base/nope], got [base/read]', expect.stringMatching(/^expected orders.secret to be masked/)]);
  });

  it('a multi-statement SQL case is decided per statement, strictest wins', () => {
    const report = runPolicyTests(
      bundleWith(`    - name: two statements
      as: bot
      target: db
      sql: select * from catalog; delete from catalog
      expect: { effect: deny }
`),
    );
    expect(report.cases[0]!.passed).toBe(true);
  });

  it('coverage lists rules no case exercised and applies the threshold', () => {
    const b = bundleWith(`    - name: reads catalog
      as: bot
      target: db
      sql: select * from catalog
      expect: { effect: allow }
`);
    const report = runPolicyTests(b, { threshold: 50 });
    expect(report.coverage).toMatchObject({ total: 3, exercised: 1, percent: 33.3 });
    expect(report.coverage.uncovered.map((u) => u.rule)).toEqual(['base-api/get', 'base-k8s/get']);
    expect(report.belowThreshold).toBe(true);
    expect(runPolicyTests(b, { threshold: 30 }).belowThreshold).toBe(false);
  });
});
