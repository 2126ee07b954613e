/**
 * Only linted bundles go live: the gateway runs the same lint as `portcullis lint` and refuses a bundle
 * with errors, at start and on reload. Attacked through the PostgreSQL wire with an allow-all rule
 * that lint rejects: before the gate, the DELETE below ran against the backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { failure, harnessBackend, policyRepo, startGateway, type Gateway } from './fixture.ts';
import { readEvidence } from '../../runtime/evidence/reader.ts';
import { startAdminServer } from '../../runtime/admin/server.ts';
import type { GatewayRuntime } from '../../runtime/gateway/runtime.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const gateways: Gateway[] = [];
afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
});

/** An allow-all for the data agent: lint says wildcard-allow-for-agents and destructive-without-review. */
const openDoor = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: open-door }
spec:
  subjects: [{ identity: data-agent }]
  targets: [shop-db]
  rules:
    - { id: everything, effect: allow, actions: ["*"], resources: ["*"] }
`;

/** A warning (policy-matches-no-target), which does not keep a bundle out. */
const staleSelector = `---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: staging-only }
spec:
  subjects: [{ identity: data-agent }]
  targets: { labels: { env: staging } }
  rules:
    - { id: no-ddl, effect: deny, actions: [ddl] }
`;

/** No row has this id: on the old code the statement ran (0 rows) rather than being refused. */
const destructive = 'delete from products where id = -424242';

async function readyz(runtime: GatewayRuntime): Promise<{ status: number; text: string }> {
  const admin = await startAdminServer(runtime.ctx, { approvals: runtime.approvals, metrics: runtime.metrics, dataDir: runtime.dataDir, host: '127.0.0.1', port: 0, ready: () => runtime.status() });
  try {
    const r = await fetch(`${admin.url.replace(/\/$/, '')}/readyz`);
    return { status: r.status, text: await r.text() };
  } finally {
    await admin.close();
  }
}

async function evidence(dataDir: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const out: { type: string; data: Record<string, unknown> }[] = [];
  for await (const r of readEvidence(join(dataDir, 'evidence'))) out.push(r as { type: string; data: Record<string, unknown> });
  return out;
}

describe('the gateway serves only bundles that lint passes', () => {
  it('at start: a lint-rejected allow-all never goes live; the DELETE is refused and /readyz says why', async () => {
    const gw = await startGateway({ prepare: (repo) => writeFile(join(repo, 'policies', 'open-door.yaml'), openDoor), config: { watch: false } });
    gateways.push(gw);
    expect(gw.runtime.ctx.bundle()).toBeUndefined();
    const status = gw.runtime.status();
    expect(status).toMatchObject({ ready: false, lastReload: { ok: false, stage: 'lint' } });
    expect(status.reason).toMatch(/^no valid policy bundle is live: lint found 2 error\(s\) in the bundle; first: policies\/open-door\.yaml:\d+:\d+: error \[destructive-without-review\]/);
    expect(status.lastReload!.errors!.join('\n')).toMatch(/\[wildcard-allow-for-agents\] rule 'everything' allows every action to agents/);
    expect(await readyz(gw.runtime)).toMatchObject({ status: 503, text: expect.stringMatching(/^not ready: no valid policy bundle is live: lint found 2 error\(s\)/) });

    const refused = await failure(gw.connect('data-agent').then((c) => c.query(destructive)));
    expect(refused).toMatchObject({ severity: 'FATAL', code: '57P03' });

    const rejected = (await evidence(gw.dataDir)).find((r) => r.type === 'bundle.rejected');
    expect(rejected?.data).toMatchObject({ stage: 'lint', live: null });
  });

  it('on reload: the last good bundle stays live and the DELETE is still refused', async () => {
    const gw = await startGateway();
    gateways.push(gw);
    const good = gw.runtime.ctx.bundle()!.revision.digest;
    await writeFile(join(gw.repo, 'policies', 'open-door.yaml'), openDoor);
    const outcome = await gw.runtime.reload();
    expect(outcome).toMatchObject({ ok: false, stage: 'lint' });
    expect(gw.runtime.ctx.bundle()!.revision.digest).toBe(good);
    expect(gw.runtime.status()).toMatchObject({ ready: true, lastReload: { ok: false, stage: 'lint' } });
    expect(await readyz(gw.runtime)).toMatchObject({
      status: 200,
      text: expect.stringMatching(/^ready\nlast reload rejected: policies\/open-door\.yaml:\d+:\d+: error \[destructive-without-review\]/),
    });

    const c = await gw.connect('data-agent');
    const refused = await failure(c.query(destructive));
    expect(refused.code).toBe('42501');
    expect(refused.message).toMatch(/delete/);

    const records = await evidence(gw.dataDir);
    expect(records.find((r) => r.type === 'bundle.rejected')?.data).toMatchObject({ stage: 'lint', live: expect.objectContaining({ digest: good }) });
  });

  it('warnings pass, and an error silenced by a reasoned suppression passes too', async () => {
    const gw = await startGateway({
      prepare: (repo) =>
        writeFile(
          join(repo, 'policies', 'open-door.yaml'),
          openDoor.replace(
            '    - { id: everything, effect: allow, actions: ["*"], resources: ["*"] }',
            `    - id: everything
      effect: allow
      actions: ["*"]
      resources: ["*"]
      suppress:
        - { rule: wildcard-allow-for-agents, reason: "test fixture: a sandbox database" }
        - { rule: destructive-without-review, reason: "test fixture: a sandbox database" }`,
          ) + staleSelector,
        ),
      config: { watch: false },
    });
    gateways.push(gw);
    expect(gw.runtime.status()).toMatchObject({ ready: true, lastReload: { ok: true } });
    const loaded = (await evidence(gw.dataDir)).find((r) => r.type === 'bundle.loaded');
    expect(loaded?.data).toMatchObject({ lint: { suppressed: 2, warnings: expect.any(Number) } });
    expect((loaded!.data.lint as { warnings: number }).warnings).toBeGreaterThan(0);
  });

  it('`portcullis gateway` exits at start with the lint errors instead of listening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-lint-gate-'));
    try {
      const repo = await policyRepo(dir, harnessBackend());
      await writeFile(join(repo, 'policies', 'open-door.yaml'), openDoor);
      const args = [
        '--import',
        'tsx',
        'cli/portcullis.ts',
        'gateway',
        '--policies',
        repo,
        '--no-watch',
        '--data-dir',
        join(dir, 'data'),
        '--pg-port',
        '0',
        '--http-port',
        'off',
        '--admin-port',
        'off',
      ];
      const r = await run(process.execPath, args, { cwd: root, timeout: 120_000, killSignal: 'SIGKILL' }).then(
        (ok) => ({ code: 0, ...ok }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^portcullis: the policy bundle has lint errors, so the gateway does not start \(2 errors\):$/m);
      expect(r.stderr).toMatch(/open-door\.yaml:\d+:\d+: error \[wildcard-allow-for-agents\]/);
      expect(r.stderr).toMatch(/hint: the gateway serves only bundles that 'portcullis lint .*' passes/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
