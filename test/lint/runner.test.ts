/** The runner, suppressions, the example repo, the output formats and the CLI's exit codes. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lintFiles, lintRepo } from '../../runtime/lint/run.ts';
import { rules } from '../../runtime/lint/catalogue.ts';
import { lintSarif } from '../../cli/reporters/sarif.ts';
import { lintGithub } from '../../cli/reporters/github.ts';
import { lintMarkdown } from '../../cli/reporters/markdown.ts';
import { policy, repo } from './fixture.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bad = fileURLToPath(new URL('../fixtures/lint-bad', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'cli/portcullis.ts', ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('suppressions', () => {
  it('a suppression on a rule silences that lint rule there, keeping the reason', () => {
    const files = repo({
      'p.yaml': policy(
        `- { id: del, effect: allow, actions: [delete], resources: [orders], suppress: [{ rule: destructive-without-review, reason: "orders are soft-deleted by a trigger" }] }\n- { id: del2, effect: allow, actions: [delete], resources: [customers] }`,
      ),
    });
    const r = lintFiles('/fixture', files);
    const hits = r.findings.filter((f) => f.rule === 'destructive-without-review');
    expect(hits.map((f) => f.message)).toEqual([expect.stringContaining("rule 'del2'")]);
    expect(r.suppressed).toEqual([expect.objectContaining({ rule: 'destructive-without-review', reason: 'orders are soft-deleted by a trigger' })]);
  });

  it('a suppression on the document covers every rule in it', () => {
    const files = repo({
      'p.yaml': policy(`- { id: a, effect: allow, actions: [delete], resources: [orders] }\n- { id: b, effect: allow, actions: [delete], resources: [customers] }`, {
        extra: '  suppress: [{ rule: destructive-without-review, reason: "a sandbox database, nothing in it matters" }]\n',
      }),
    });
    const r = lintFiles('/fixture', files);
    expect(r.findings.filter((f) => f.rule === 'destructive-without-review')).toEqual([]);
    expect(r.suppressed).toHaveLength(2);
  });

  it('stale and misspelt suppressions are warnings', () => {
    const files = repo({
      'p.yaml': policy(`- { id: a, effect: allow, actions: [select], resources: [orders], suppress: [{ rule: destructive-without-reveiw, reason: "typo in the rule id here" }] }`),
    });
    const [f] = lintFiles('/fixture', files).findings.filter((x) => x.rule === 'unused-suppression');
    expect(f).toMatchObject({ severity: 'warning', message: "suppression names unknown lint rule 'destructive-without-reveiw'", hint: "did you mean 'destructive-without-review'?" });
  });

  it('loader errors cannot be suppressed', () => {
    const files = repo({
      'p.yaml': policy(`- { id: a, effect: allow, actions: [selec], resources: [orders] }`, { extra: '  suppress: [{ rule: unresolved-reference, reason: "trying to hide a broken policy" }]\n' }),
    });
    const r = lintFiles('/fixture', files);
    expect(r.findings.some((f) => f.rule === 'unresolved-reference' && f.severity === 'error')).toBe(true);
  });
});

describe('the example repo', () => {
  it('lints clean', async () => {
    const r = await lintRepo(`${root}policies`);
    expect(r.findings).toEqual([]);
  });
});

describe('formats', () => {
  it('SARIF is a structurally valid 2.1.0 log with rule metadata', async () => {
    const report = await lintRepo(bad);
    const log = JSON.parse(lintSarif(report, rules));
    expect(log.version).toBe('2.1.0');
    expect(log.$schema).toMatch(/sarif-2\.1\.0/);
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe('portcullis');
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(rules.map((r) => r.id));
    for (const rule of run.tool.driver.rules) {
      expect(rule.shortDescription.text).toBeTruthy();
      expect(rule.fullDescription.text).toBeTruthy();
      expect(rule.help.text).toBeTruthy();
      expect(['error', 'warning', 'note']).toContain(rule.defaultConfiguration.level);
    }
    expect(run.results.length).toBeGreaterThan(0);
    for (const res of run.results) {
      expect(run.tool.driver.rules[res.ruleIndex].id).toBe(res.ruleId);
      expect(['error', 'warning', 'note']).toContain(res.level);
      expect(res.message.text).toBeTruthy();
      const loc = res.locations[0].physicalLocation;
      expect(loc.artifactLocation.uri).toMatch(/\.yaml$/);
      expect(loc.region.startLine).toBeGreaterThan(0);
      expect(loc.region.startColumn).toBeGreaterThan(0);
    }
    const suppressed = run.results.filter((r: { suppressions?: unknown[] }) => r.suppressions);
    expect(suppressed).toEqual([expect.objectContaining({ ruleId: 'grant-ttl-exceeds-max', suppressions: [{ kind: 'inSource', justification: 'schema migrations of orders take two hours' }] })]);
  });

  it('github annotations escape their data', () => {
    const out = lintGithub({
      root: '/x',
      files: 1,
      findings: [{ rule: 'r', severity: 'warning', message: 'a, b: 100%\nnext', file: 'p,1.yaml', line: 3, column: 5 }],
      suppressed: [],
      counts: { error: 0, warning: 1, info: 0 },
      durationMs: 1,
    });
    expect(out.split('\n')[0]).toBe('::warning file=p%2C1.yaml,line=3,col=5,title=portcullis r::a, b: 100%25%0Anext');
  });

  it('markdown lists findings in a table', async () => {
    const md = lintMarkdown(await lintRepo(bad));
    expect(md).toContain('| error | `destructive-without-review` | repo.yaml:');
  });
});

describe('portcullis lint', () => {
  it('exits 1 on errors and prints file:line findings', async () => {
    const r = await cli(['lint', 'test/fixtures/lint-bad']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/test\/fixtures\/lint-bad\/repo\.yaml:\d+:\d+: error \[destructive-without-review\] rule 'delete-orders' allows delete to agents without review/);
    expect(r.stdout).toMatch(/warning \[unused-suppression\]/);
  });

  it('exits 0 on the example repo; json on stdout only', async () => {
    const r = await cli(['lint', 'policies', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).counts).toEqual({ error: 0, warning: 0, info: 0 });
  });

  it('--explain prints the rule and an unknown id suggests one', async () => {
    const ok = await cli(['lint', '--explain', 'unsupported-regex']);
    expect(ok.stdout).toMatch(/^unsupported-regex \(error\)/);
    const no = await cli(['lint', '--explain', 'unsuported-regex']);
    expect(no.code).toBe(2);
    expect(no.stderr).toContain("did you mean 'unsupported-regex'?");
  });
});
