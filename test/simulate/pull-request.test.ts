/**
 * Issue 6's bar for policy CI, end to end on a temporary git repo holding the example policies:
 * a pull request that lets agents delete fails with a lint error AND an invariant counterexample;
 * one that only tightens passes and names the recorded requests it will deny.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/simulate/run.ts';
import { record, tempRepo, writeRecordings } from './helpers.ts';

const cli = fileURLToPath(new URL('../../cli/portcullis.ts', import.meta.url));
const run = promisify(execFile);

describe('a policy pull request in CI', () => {
  it('that lets agents delete fails lint and breaks an invariant, with a counterexample', async () => {
    const repo = await tempRepo();
    const base = repo.git('rev-parse', 'HEAD');
    await writeFile(
      join(repo.dir, 'policies/cleanup.yaml'),
      `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: agent-cleanup }
spec:
  subjects: [{ group: agents }]
  targets: [shop-db]
  rules:
    - { id: delete-old-orders, effect: allow, actions: [delete], resources: [orders] }
`,
    );
    const head = repo.commit('let agents clean up old orders');

    const lint = await run(process.execPath, ['--import', 'tsx', cli, 'lint', repo.dir, '--format', 'json']).catch((e: { code: number; stdout: string }) => e);
    expect((lint as { code: number }).code).toBe(1);
    const findings = JSON.parse((lint as { stdout: string }).stdout).findings as { rule: string; severity: string; file: string }[];
    expect(findings).toContainEqual(expect.objectContaining({ rule: 'destructive-without-review', severity: 'error', file: expect.stringContaining('cleanup.yaml') }));

    const report = await simulate({ dir: repo.dir, base, head, seed: 7, runs: 200 });
    const broken = report.invariants.find((i) => i.name === 'agent-deletes-need-review')!;
    expect(broken.holds).toBe(false);
    expect(broken.counterexample).toMatchObject({ decision: { rules: ['agent-cleanup/delete-old-orders'] } });
    expect(JSON.stringify(broken.counterexample)).toMatch(/delete/i);
    expect(report.passed).toBe(false);
  });

  it('that only tightens passes and lists the recorded requests that become denied', async () => {
    const repo = await tempRepo();
    await writeRecordings(
      repo.dir,
      await record(repo.dir, [
        { as: 'support-agent', target: 'shop-db', sql: 'select name, email from customers' },
        { as: 'support-agent', target: 'shop-db', sql: 'select id, total from orders where id = 7' },
      ]),
    );
    const base = repo.commit('recordings');
    await repo.edit('policies/support.yaml', (t) => t.replace('resources: [orders, customers, customer_contacts, products]', 'resources: [orders, products]'));
    const head = repo.commit('support no longer reads customers');
    const report = await simulate({ dir: repo.dir, base, head, seed: 7, runs: 200 });
    expect(report.passed).toBe(true);
    const denied = report.replay!.groups.find((g) => g.kind === 'newlyDenied')!;
    expect(denied.examples.map((e) => e.request)).toEqual(['select name, email from customers']);
  });
});
