import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failure, startGateway, type Gateway } from './fixture.ts';

const run = promisify(execFile);
const gateways: Gateway[] = [];
afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
});

describe('no valid bundle at start', () => {
  it('refuses connections with a clear FATAL, says why in status, and serves once the repo is fixed', async () => {
    const gw = await startGateway({
      prepare: async (repo) => {
        const file = join(repo, 'policies', 'support.yaml');
        await writeFile(file, (await readFile(file, 'utf8')).replace('effect: allow', 'effect: perhaps'));
      },
    });
    gateways.push(gw);
    expect(gw.runtime.ctx.bundle()).toBeUndefined();
    expect(gw.runtime.status()).toMatchObject({ ready: false, reason: 'no valid policy bundle is live', lastReload: { ok: false } });
    expect(gw.runtime.status().lastReload!.errors!.join('\n')).toMatch(/support\.yaml:\d+:\d+: error/);

    // node-postgres: the SQLSTATE an agent's driver sees
    const refused = await failure(gw.connect());
    expect(refused).toMatchObject({ severity: 'FATAL', code: '57P03' });
    expect(refused.message).toMatch(/^portcullis: the gateway has no valid policy bundle yet/);

    // psql: what a person at the agent's terminal reads
    const psql = await run('psql', ['-X', '-c', 'select 1'], { env: await gw.env() }).catch((e: { stderr: string; code: number }) => e);
    expect((psql as { code: number }).code).not.toBe(0);
    expect((psql as { stderr: string }).stderr).toMatch(/FATAL:\s+portcullis: the gateway has no valid policy bundle yet/);

    // the watcher picks up the fix; no restart
    const file = join(gw.repo, 'policies', 'support.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('effect: perhaps', 'effect: allow'));
    await expect.poll(() => gw.runtime.status().ready, { timeout: 8000 }).toBe(true);
    const c = await gw.connect();
    expect((await c.query('select count(*)::int as n from products')).rows[0].n).toBeGreaterThan(0);
  });

  it('keeps refusing when the policy folder is missing altogether', async () => {
    const gw = await startGateway({ prepare: (repo) => rm(repo, { recursive: true, force: true }), config: { watch: false } });
    gateways.push(gw);
    expect(gw.runtime.status()).toMatchObject({ ready: false, reason: 'no valid policy bundle is live' });
    expect(await failure(gw.connect())).toMatchObject({ severity: 'FATAL', code: '57P03' });
  });
});
