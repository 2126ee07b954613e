import { describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { connectBackend, sendCancelRequest, simpleQuery, type ConnectBackendOptions } from '../../runtime/protocols/postgres/backend/connect.ts';
import { freePort, pgInfo } from '../harness/postgres.ts';

function base(): ConnectBackendOptions {
  const pg = pgInfo();
  return { host: pg.host, port: pg.port, database: pg.sampleDatabase, user: pg.user, password: pg.password };
}

async function expectError(p: Promise<unknown>, code: string, message: RegExp): Promise<PortcullisError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PortcullisError);
  const pe = err as PortcullisError;
  expect(pe.code).toBe(code);
  expect(pe.message).toMatch(message);
  return pe;
}

describe('connectBackend', () => {
  it('authenticates with SCRAM-SHA-256 and runs catalog queries', async () => {
    const conn = await connectBackend({ ...base(), startupParams: { application_name: 'portcullis-test' } });
    try {
      expect(conn.socket.readyState).toBe('open');
      expect(conn.serverParams.get('server_encoding')).toBe('UTF8');
      expect(conn.serverParams.get('application_name')).toBe('portcullis-test');
      expect(conn.backendKey.processId).toBeGreaterThan(0);
      expect(conn.leftover.length).toBe(0);
      expect(conn.authMethod).toBe('scram-sha-256');
      const r = await simpleQuery(conn, `SELECT name, email, NULL::text AS nothing FROM customers WHERE id <= 2 ORDER BY id`);
      expect(r.fields.map((f) => f.name)).toEqual(['name', 'email', 'nothing']);
      expect(r.fields[0]!.tableOid).toBeGreaterThan(0);
      expect(r.rows).toEqual([
        ['Ada Lovelace', 'ada.lovelace@example.com', null],
        ['Alan Turing', 'alan.turing@example.com', null],
      ]);
      expect(r.command).toBe('SELECT 2');
      // The server really used SCRAM: the session's role has a SCRAM verifier.
      const m = await simpleQuery(conn, `SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = current_user`);
      expect(m.rows[0]![0]).toBe('SCRAM-SHA-256');
      // Concurrent calls are serialised on the one connection.
      const [a, b] = await Promise.all([simpleQuery(conn, 'SELECT 1'), simpleQuery(conn, 'SELECT 2')]);
      expect([a.rows, b.rows]).toEqual([[['1']], [['2']]]);
    } finally {
      await conn.close();
    }
    expect(conn.socket.destroyed).toBe(true);
  });

  it('reports SQL errors of catalog queries and stays usable', async () => {
    const conn = await connectBackend(base());
    try {
      await expectError(simpleQuery(conn, 'SELECT * FROM no_such_table'), 'internal', /no_such_table.*42P01/);
      expect((await simpleQuery(conn, 'SELECT 42')).rows).toEqual([['42']]);
    } finally {
      await conn.close();
    }
  });

  it.each([
    ['md5', 'md5_user'],
    ['password', 'plain_user'],
    ['trust', 'trust_user'],
  ] as const)('authenticates a role using %s', async (method, role) => {
    const pg = pgInfo();
    const password = role === 'trust_user' ? undefined : pg.testRolePassword;
    const conn = await connectBackend({ ...base(), user: role, ...(password ? { password } : { password: undefined }) });
    try {
      expect(conn.authMethod).toBe(method);
      expect((await simpleQuery(conn, 'SELECT current_user')).rows).toEqual([[role]]);
    } finally {
      await conn.close();
    }
  });

  it('rejects a wrong password with a clear message', async () => {
    const pg = pgInfo();
    const err = await expectError(
      connectBackend({ ...base(), password: 'wrong' }),
      'unauthenticated',
      new RegExp(`backend 127\\.0\\.0\\.1:${pg.port} rejected the credentials of role ${pg.user}: password authentication failed`),
    );
    expect(err.cause).toBeDefined();
  });

  it.each(['md5_user', 'plain_user'])('rejects a wrong password for %s', async (role) => {
    await expectError(connectBackend({ ...base(), user: role, password: 'nope' }), 'unauthenticated', /rejected the credentials of role .*password authentication failed/);
  });

  it('says so when the backend wants a password and none is configured', async () => {
    await expectError(connectBackend({ ...base(), password: undefined }), 'unauthenticated', /no password is configured/);
  });

  it('reports an unreachable port as unavailable', async () => {
    const port = await freePort();
    const err = await expectError(connectBackend({ ...base(), port }), 'unavailable', new RegExp(`cannot reach backend 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    expect(err.cause).toBeDefined();
  });

  it('reports a missing database as unavailable with its SQLSTATE', async () => {
    await expectError(connectBackend({ ...base(), database: 'no_such_db' }), 'unavailable', /database "no_such_db" does not exist.*3D000/);
  });

  it('fails clearly when TLS is required and the server has none', async () => {
    await expectError(connectBackend({ ...base(), tls: { mode: 'require' } }), 'unavailable', /does not accept TLS connections.*requires TLS \(mode require\)/);
    await expectError(connectBackend({ ...base(), tls: { mode: 'verify-full' } }), 'unavailable', /does not accept TLS/);
  });

  it('falls back to plaintext with tls prefer and connects with tls disable', async () => {
    for (const mode of ['prefer', 'disable'] as const) {
      const conn = await connectBackend({ ...base(), tls: { mode } });
      expect(conn.encrypted).toBe(false);
      await conn.close();
    }
  });

  it('times out against a server that never answers', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      for (const mode of ['disable', 'prefer'] as const) {
        await expectError(connectBackend({ ...base(), port, connectTimeoutMs: 300, tls: { mode } }), 'unavailable', /^cannot reach backend 127\.0\.0\.1:\d+: no answer within 300 ms$/);
      }
    } finally {
      silent.close();
    }
  });

  it('cancels a running query', async () => {
    const conn = await connectBackend(base());
    try {
      const cancelled = expectError(simpleQuery(conn, 'SELECT pg_sleep(30)'), 'internal', /canceling statement due to user request.*57014/);
      await new Promise((r) => setTimeout(r, 200));
      await sendCancelRequest(conn.host, conn.port, conn.backendKey.processId, conn.backendKey.secretKey);
      await cancelled;
    } finally {
      await conn.close();
    }
  });
});
