/**
 * SIGTERM on a real `portcullis gateway` process: /readyz says draining at once, open sessions get
 * the --drain deadline, then every socket is closed (sessions, a half-sent oversized message, a
 * half-open startup) and the process exits.
 */
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { freePort } from '../harness/postgres.ts';
import { startTsx } from '../harness/processes.ts';
import { harnessBackend, policyRepo } from '../fail-closed/fixture.ts';
import { WireClient } from './wire.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-sigterm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readyz(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(new URL('/readyz', url));
  return { status: r.status, text: await r.text() };
}

describe('SIGTERM', () => {
  test('drains: readiness off at once, sessions closed at the deadline, even with an oversized message pending; then the process exits', async () => {
    const repo = await policyRepo(dir, harnessBackend());
    const dataDir = join(dir, 'data');
    const [pgPort, adminPort] = [await freePort(), await freePort()];
    const gw = await startTsx('cli/portcullis.ts', [
      'gateway',
      '--policies',
      repo,
      '--no-watch',
      '--data-dir',
      dataDir,
      '--pg-port',
      String(pgPort),
      '--http-port',
      'off',
      '--admin-port',
      String(adminPort),
      '--drain',
      '3s',
    ]);
    let exited: number | null | undefined;
    void gw.exited.then((code) => (exited = code));
    await expect.poll(() => exited !== undefined || /portcullis gateway ready/.test(gw.stderr()), { timeout: 30_000, interval: 100 }).toBe(true);
    expect(exited, gw.stderr()).toBeUndefined();
    const admin = `http://127.0.0.1:${adminPort}/`;
    expect((await readyz(admin)).status).toBe(200);

    const token = (await issueToken({ dataDir, subject: 'support-agent', ttl: '10m' })).token;
    const session = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'support-agent', password: token, database: 'shop-db' });
    const sessionError = new Promise<Error>((resolve) => session.on('error', resolve));
    await session.connect();
    expect((await session.query('SELECT id FROM orders LIMIT 1')).rows).toHaveLength(1);

    // A session in the middle of a message far over the size limit, and a startup never finished.
    const big = await WireClient.login(pgPort, token, 'shop-db', 'support-agent');
    const header = Buffer.alloc(5);
    header.write('Q', 0);
    header.writeInt32BE(50 * 1024 * 1024, 1);
    big.send(header, Buffer.alloc(4096, 0x20));
    const over = await WireClient.login(pgPort, token, 'shop-db', 'support-agent');
    const overHeader = Buffer.from(header);
    overHeader.writeInt32BE(100 * 1024 * 1024, 1);
    over.send(overHeader, Buffer.alloc(4096, 0x20));
    over.socket.setTimeout(0);
    const halfOpen: Socket = connect({ host: '127.0.0.1', port: pgPort, allowHalfOpen: true });
    halfOpen.on('error', () => {});
    await new Promise((r) => halfOpen.once('connect', r));
    halfOpen.write(Buffer.from([0, 0, 0]));

    gw.child.kill('SIGTERM');
    // Draining is visible before the deadline ends the open sessions.
    await expect.poll(async () => (await readyz(admin).catch(() => ({ status: 0, text: '' }))).text, { timeout: 10_000, interval: 50 }).toMatch(/draining/);
    expect(exited).toBeUndefined();
    const err = await sessionError;
    expect(err.message).toMatch(/shutting down/);
    await big.closedWithin(20_000);
    await over.closedWithin(20_000);
    expect(await gw.exited).toBe(0);
    // it stopped by itself, not by the last-resort deadline behind the drain
    expect(gw.stderr()).toMatch(/draining/);
    expect(gw.stderr()).not.toMatch(/did not finish/);
    halfOpen.destroy();
  }, 90_000);
});
