/**
 * Issue 16's bar: unsafe pull requests on a copy of the example repo that also edit the checks
 * that would catch them - each one commit - fail the policy check, and `portcullis diff` names the
 * widening. The base revision (with recordings and a CODEOWNERS for the safety files) is the judge.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { policyCheck, type PolicyCheck } from '../../runtime/github/check.ts';
import type { TempRepo } from '../simulate/helpers.ts';
import { allowDeletes, dropInvariant, safetyRepo, suppressDestructive, traffic, unclassifyEmail } from './fixture.ts';

const cli = fileURLToPath(new URL('../../cli/portcullis.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

let repo: TempRepo;
let base: string;

async function scenario(name: string, edit: (r: TempRepo) => Promise<void>): Promise<{ check: PolicyCheck; head: string }> {
  repo.git('checkout', '-q', '-B', name, base);
  await edit(repo);
  const head = repo.commit(name);
  const check = await policyCheck({ dir: repo.dir, base, seed: 3, runs: 150 });
  return { check, head };
}

async function diffCli(): Promise<{ code: number; stdout: string }> {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'diff', repo.dir, '--base', base], { cwd: projectRoot })
    .then((r) => ({ code: 0, stdout: r.stdout }))
    .catch((e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }));
}

const kinds = (c: PolicyCheck) => c.safety!.changes.filter((x) => x.weakens).map((x) => x.kind);

beforeAll(async () => {
  ({ repo, base } = await safetyRepo());
}, 60_000);

describe('an unsafe pull request that edits its own checks fails', () => {
  it('recordings deleted (and a mask removed, which the recordings would show)', async () => {
    const { check } = await scenario('recordings-deleted', async (r) => {
      await rm(join(r.dir, 'recordings'), { recursive: true });
      await r.edit('targets/shop-db.yaml', unclassifyEmail);
    });
    expect(check.failed).toBe(true);
    expect(kinds(check)).toContain('recordings-reduced');
    expect(check.safety!.changes.find((c) => c.kind === 'recordings-reduced')!.message).toMatch(/5 → 0 recorded requests/);
    // The base's recordings are still replayed, so the exposure still shows.
    expect(check.simulate!.replay!.requests).toBe(traffic.length);
    expect(check.simulate!.replay!.failed).toContain('maskRemoved');
    expect(check.diff!.changes).toContainEqual(
      expect.objectContaining({ direction: 'widen', target: 'shop-db', action: 'select', resource: 'customers', what: expect.arrayContaining(['mask customers.email (partial) removed']) }),
    );
    const d = await diffCli();
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/WIDEN .*support-agent on shop-db: select customers: .*mask customers\.email \(partial\) removed/);
  }, 120_000);

  it('invariant removed (and deletes allowed, which it forbids)', async () => {
    const { check } = await scenario('invariant-removed', async (r) => {
      await r.edit('invariants/safety.yaml', dropInvariant('agent-deletes-need-review'));
      await r.edit('policies/data.yaml', allowDeletes);
    });
    expect(check.failed).toBe(true);
    expect(kinds(check)).toEqual(['invariant-removed']);
    const inherited = check.simulate!.invariants.find((i) => i.name === 'agent-deletes-need-review')!;
    expect(inherited).toMatchObject({ from: 'base', holds: false });
    expect(inherited.counterexample!.decision.rules).toEqual(['data-maintenance/deletes-need-dba']);
    const d = await diffCli();
    expect(d.stdout).toMatch(/WIDEN .*data-agent on shop-db: delete orders: effect review → allow \(data-maintenance\/deletes-need-dba/);
  }, 120_000);

  it('suppression added (silencing the lint error of an allowed delete)', async () => {
    const { check } = await scenario('suppression-added', async (r) => {
      await r.edit('policies/data.yaml', suppressDestructive);
    });
    expect(check.lint.counts.error).toBe(0);
    expect(check.failed).toBe(true);
    expect(kinds(check)).toEqual(['suppression-added']);
    expect(check.safety!.changes[0]!.message).toMatch(/destructive-without-review.*rule deletes-need-dba/);
    const d = await diffCli();
    expect(d.stdout).toMatch(/WIDEN .*data-agent on shop-db: delete orders: effect review → allow/);
  }, 120_000);

  it('limit raised (maxGrantTtl to 30d with a 30-day grant)', async () => {
    const { check } = await scenario('limit-raised', async (r) => {
      await r.edit('portcullis.yaml', (t) => t.replace('maxGrantTtl: 4h', 'maxGrantTtl: 30d'));
      await r.edit('policies/data.yaml', (t) => t.replace('grant: { ttl: 30m }', 'grant: { ttl: 30d }'));
    });
    expect(check.failed).toBe(true);
    expect(kinds(check)).toEqual(['setting-changed']);
    expect(check.safety!.changes[0]!.message).toMatch(/maxGrantTtl 4h → 30d/);
    // Linted under the base's limit: the grant is an error although the head raised the limit.
    expect(check.lint.findings).toContainEqual(expect.objectContaining({ rule: 'grant-ttl-exceeds-max', severity: 'error' }));
    const d = await diffCli();
    expect(d.stdout).toMatch(/WIDEN .*data-agent on shop-db: delete orders: grant after approval 30m → 30d/);
  }, 120_000);

  it('all combined (recordings, invariant, suppression, test edited, limit, gate)', async () => {
    const { check } = await scenario('all-combined', async (r) => {
      await rm(join(r.dir, 'recordings'), { recursive: true });
      await r.edit('invariants/safety.yaml', dropInvariant('agent-deletes-need-review'));
      await r.edit('policies/data.yaml', (t) => suppressDestructive(t));
      await r.edit('targets/shop-db.yaml', unclassifyEmail);
      await r.edit('portcullis.yaml', (t) =>
        t.replace('maxGrantTtl: 4h', 'maxGrantTtl: 30d').replace('newlyAllowed: fail', 'newlyAllowed: pass').replace('coverageThreshold: 80', 'coverageThreshold: 10'),
      );
      await r.edit('tests/shop-db.yaml', (t) => t.replace(/    - name: data agent deletes need a DBA\n(      .*\n)+/, ''));
    });
    expect(check.failed).toBe(true);
    expect(new Set(kinds(check))).toEqual(new Set(['recordings-reduced', 'invariant-removed', 'suppression-added', 'setting-changed', 'test-removed']));
    const settings = check.safety!.changes.filter((c) => c.kind === 'setting-changed').map((c) => c.message);
    expect(settings).toEqual(
      expect.arrayContaining([expect.stringMatching(/maxGrantTtl 4h → 30d/), expect.stringMatching(/coverageThreshold 80 → 10/), expect.stringMatching(/gate newlyAllowed fail → pass/)]),
    );
    // The base's gate and threshold still apply.
    expect(check.simulate!.replay!.groups.find((g) => g.kind === 'newlyAllowed')).toMatchObject({ gate: 'fail', count: 1 });
    expect(check.test!.threshold).toBe(80);
    expect(check.simulate!.invariants.find((i) => i.name === 'agent-deletes-need-review')).toMatchObject({ from: 'base', holds: false });
    const d = await diffCli();
    expect(d.stdout).toMatch(/WIDEN .*data-agent on shop-db: delete orders: effect review → allow/);
    expect(d.stdout).toMatch(/WIDEN .*support-agent on shop-db: select customers: .*mask customers\.email \(partial\) removed/);
  }, 120_000);
});

describe('the judge is the base', () => {
  it("an agent moved out of an invariant's group stays in its scope for that pull request", async () => {
    const { check } = await scenario('leave-group', async (r) => {
      await r.edit('identities/agents.yaml', (t) => t.replace('groups: [agents, data]', 'groups: [data]'));
      await r.edit('policies/data.yaml', (t) => t + '    - id: migrate\n      effect: allow\n      actions: [ddl]\n      resources: [orders]\n');
    });
    expect(check.failed).toBe(true);
    const inv = check.simulate!.invariants.find((i) => i.name === 'agents-never-run-ddl')!;
    expect(inv.holds).toBe(false);
    expect(inv.counterexample).toMatchObject({ identity: 'data-agent', decision: { effect: 'allow', rules: ['data-maintenance/migrate'] } });
    expect(check.diff!.changes).toContainEqual(expect.objectContaining({ direction: 'widen', identities: ['data-agent'], action: 'ddl', resource: 'orders' }));
  }, 120_000);

  it('a safe pull request reports no safety change and no widening', async () => {
    const { check } = await scenario('tighten', async (r) => {
      await r.edit('policies/support.yaml', (t) => t.replace('resources: [orders, customers, customer_contacts, products]', 'resources: [orders, products]'));
    });
    expect(check.safety!.changes).toEqual([]);
    expect(check.diff!.widened).toBe(0);
    expect(check.diff!.changes).toContainEqual(expect.objectContaining({ direction: 'narrow', identities: ['support-agent'], action: 'select', resource: 'customers' }));
  }, 120_000);

  it('the CODEOWNERS block protects every safety file and names the owners', async () => {
    repo.git('checkout', '-q', base);
    const text = await readFile(join(repo.root, '.github/CODEOWNERS'), 'utf8');
    expect(text).toContain('/policies/portcullis.yaml @acme/policy-owners');
    expect(text).toContain('/policies/invariants/safety.yaml @acme/policy-owners');
    expect(text).toContain('/policies/recordings/ @acme/policy-owners');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'codeowners', repo.dir, '--check'], { cwd: projectRoot });
    expect(stdout).toMatch(/safety paths owned by @acme\/policy-owners/);
  }, 60_000);
});
