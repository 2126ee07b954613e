/** Replay-and-diff between two commits of a temporary git repo, and the invariant search. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/simulate/run.ts';
import { filesAtRef } from '../../runtime/simulate/git.ts';
import { record, tempRepo, writeRecordings, type TempRepo } from './helpers.ts';

const cliPath = fileURLToPath(new URL('../../cli/portcullis.ts', import.meta.url));
const traffic = [
  { as: 'data-agent', target: 'shop-db', sql: "delete from orders where status = 'cancelled'" },
  { as: 'support-agent', target: 'shop-db', sql: 'select id, total from orders where id = 7' },
  { as: 'support-agent', target: 'shop-db', sql: 'select name, email from customers' },
  { as: 'support-agent', target: 'billing-api', http: 'GET /invoices/7?limit=5' },
  { as: 'ops-agent', target: 'k8s-prod', k8s: 'list pods -n shop' },
];

describe('simulate: replay', () => {
  let repo: TempRepo;
  let base: string;
  beforeAll(async () => {
    repo = await tempRepo();
    await writeRecordings(repo.dir, await record(repo.dir, traffic));
    base = repo.commit('recordings');
  });

  it('reads the base revision from git history, not the work tree', async () => {
    await repo.edit('policies/data.yaml', (t) => t.replace('name: data-maintenance', 'name: data-maintenance-edited'));
    const files = filesAtRef(repo.dir, base);
    expect(files.map((f) => f.path)).toContain('policies/data.yaml');
    expect(files.find((f) => f.path === 'policies/data.yaml')!.text).toContain('name: data-maintenance\n');
    repo.git('checkout', '-q', '--', '.');
  });

  it('finds a planted newly-allowed change between two commits, and fails its gate', async () => {
    await repo.edit('policies/data.yaml', (t) =>
      t
        .replace(/- id: deletes-need-dba\n      effect: review/, '- id: deletes-need-dba\n      effect: allow')
        .replace(/      review:\n        approvers: \{ groups: \[dba\], count: 1 \}\n        grant: \{ ttl: 30m \}\n/, ''),
    );
    const head = repo.commit('let the data agent delete');
    const report = await simulate({ dir: repo.dir, base, head, seed: 1, runs: 50 });
    const replay = report.replay!;
    expect(replay.requests).toBe(traffic.length);
    const allowed = replay.groups.find((g) => g.kind === 'newlyAllowed')!;
    expect(allowed.count).toBe(1);
    expect(allowed.gate).toBe('fail');
    expect(allowed.examples[0]).toMatchObject({
      identity: 'data-agent',
      target: 'shop-db',
      request: "delete from orders where status = 'cancelled'",
      base: { effect: 'review' },
      head: { effect: 'allow', rules: ['data-maintenance/deletes-need-dba'] },
    });
    expect(replay.failed).toEqual(['newlyAllowed']);
    expect(report.passed).toBe(false);
    repo.git('reset', '-q', '--hard', base);
  });

  it('a change that only tightens passes and lists the newly denied requests', async () => {
    await repo.edit('policies/support.yaml', (t) => t.replace('resources: [orders, customers, customer_contacts, products]', 'resources: [orders, products]'));
    const report = await simulate({ dir: repo.dir, base, seed: 1, runs: 50 });
    const denied = report.replay!.groups.find((g) => g.kind === 'newlyDenied')!;
    expect(denied).toMatchObject({ count: 1, gate: 'warn' });
    expect(denied.examples[0]!.request).toBe('select name, email from customers');
    expect(report.passed).toBe(true);
    repo.git('checkout', '-q', '--', '.');
  });

  it('reports a removed mask', async () => {
    await repo.edit('targets/shop-db.yaml', (t) => t.replace('columns: [customers.email, customers.phone, customer_contacts.email]', 'columns: [customers.phone, customer_contacts.email]'));
    const report = await simulate({ dir: repo.dir, base, seed: 1, runs: 50 });
    const removed = report.replay!.groups.find((g) => g.kind === 'maskRemoved')!;
    expect(removed.count).toBeGreaterThan(0);
    expect(removed.examples[0]!.masks).toContain('customers.email (partial)');
    repo.git('checkout', '-q', '--', '.');
  });

  it('the CLI prints only the format on stdout when not on a terminal', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cliPath, 'simulate', repo.dir, '--base', base, '--format', 'json', '--seed', '5', '--runs', '20'], {
      cwd: join(fileURLToPath(new URL('../../', import.meta.url))),
    });
    const report = JSON.parse(stdout);
    expect(report.seed).toBe(5);
    expect(report.replay.requests).toBe(traffic.length);
    expect(stderr.replace(/npm warn.*\n/g, '')).toBe('');
  });
});

describe('simulate: invariants', () => {
  it('finds and shrinks a counterexample to a broken invariant, the same for the same seed', async () => {
    const repo = await tempRepo();
    // Drop the baseline's deny of DDL and let the data agent alter orders.
    await repo.edit('policies/baseline.yaml', (t) => t.replace(/    - id: no-ddl\n(.*\n){3}      resources: \["\*"\]\n/, ''));
    await repo.edit('policies/data.yaml', (t) => t + '    - id: migrate\n      effect: allow\n      actions: [ddl]\n      resources: [orders]\n');
    expect(await readFile(join(repo.dir, 'policies/baseline.yaml'), 'utf8')).not.toContain('no-ddl');
    const a = await simulate({ dir: repo.dir, seed: 42, runs: 500 });
    const inv = a.invariants.find((i) => i.name === 'agents-never-run-ddl')!;
    expect(inv.holds).toBe(false);
    expect(inv.counterexample).toMatchObject({
      source: 'search',
      identity: 'data-agent',
      target: 'shop-db',
      request: 'DROP TABLE orders',
      decision: { effect: 'allow', rules: ['data-maintenance/migrate'] },
    });
    expect(inv.counterexample!.violation).toMatch(/effect is allow/);
    expect(a.invariants.find((i) => i.name === 'pii-always-masked')!.holds).toBe(true);
    const b = await simulate({ dir: repo.dir, seed: 42, runs: 500 });
    expect(b.invariants).toEqual(a.invariants);
    expect(a.passed).toBe(false);
  });

  it('a recorded request that breaks an invariant is reported as such', async () => {
    const repo = await tempRepo();
    await repo.edit('policies/baseline.yaml', (t) => t.replace(/    - id: no-ddl\n(.*\n){3}      resources: \["\*"\]\n/, ''));
    await repo.edit('policies/data.yaml', (t) => t + '    - id: migrate\n      effect: allow\n      actions: [ddl]\n      resources: [orders]\n');
    await writeRecordings(repo.dir, await record(repo.dir, [{ as: 'data-agent', target: 'shop-db', sql: 'alter table orders add column note text' }]));
    const report = await simulate({ dir: repo.dir, seed: 1, runs: 10 });
    const inv = report.invariants.find((i) => i.name === 'agents-never-run-ddl')!;
    expect(inv.counterexample).toMatchObject({ source: 'recording', request: 'alter table orders add column note text', sessionId: 's0', seq: 1 });
  });
});
