/**
 * startGateway, the one composition root: it starts the listeners the config asks for and no
 * others, and when one cannot start it closes what it had started (the evidence store's lock too),
 * so the same data directory can be started again at once.
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../runtime/gateway/start.ts';
import { PortcullisError } from '../../runtime/errors.ts';

let dir: string;
let held: Server;
let heldPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-start-'));
  held = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  heldPort = (held.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => held.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('startGateway', () => {
  it('starts only the listeners that are not off', async () => {
    const gw = await startGateway({ dataDir: join(dir, 'only-admin'), watch: false, pgPort: 'off', httpPort: 'off', adminPort: 0 }, { log: () => {} });
    try {
      expect(gw.pgPort).toBeUndefined();
      expect(gw.httpUrl).toBeUndefined();
      expect(gw.postgres).toBeUndefined();
      expect(gw.http).toBeUndefined();
      expect((await fetch(`${gw.adminUrl!.replace(/\/$/, '')}/readyz`)).status).toBe(200);
      expect(gw.config).toMatchObject({ drainMs: 30_000, reviewHoldMs: 0, evidence: { durability: 'fsync' } });
    } finally {
      await gw.stop();
    }
  });

  it('a port in use: says which flag to change, and closes what it had started', async () => {
    const dataDir = join(dir, 'in-use');
    let thrown: unknown;
    await startGateway({ dataDir, watch: false, pgPort: 0, httpPort: heldPort, adminPort: 'off' }, { log: () => {} }).catch((err: unknown) => (thrown = err));
    expect(PortcullisError.is(thrown, 'unavailable')).toBe(true);
    expect((thrown as PortcullisError).message).toBe(`port ${heldPort} is already in use`);
    expect((thrown as PortcullisError).details.hint).toMatch(/--http-port with another port \(or off\)/);
    // The PostgreSQL listener and the runtime were closed: the evidence lock is free again.
    const again = await startGateway({ dataDir, watch: false, pgPort: 0, httpPort: 'off', adminPort: 'off' }, { log: () => {} });
    expect(again.pgPort).toBeGreaterThan(0);
    await again.stop();
  });

  it('refuses a wrong config before it creates the data directory', async () => {
    const dataDir = join(dir, 'never');
    await expect(startGateway({ dataDir, httpPort: 65536 })).rejects.toThrow(/--http-port must be a port number/);
    await expect(startGateway({ dataDir, tls: { certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'missing.key') } })).rejects.toThrow(/--tls-cert .*missing\.pem cannot be read/);
    await expect(import('node:fs/promises').then((fs) => fs.stat(dataDir))).rejects.toThrow(/ENOENT/);
  });
});
