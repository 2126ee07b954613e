/**
 * The listener's front door: TLS via SSLRequest, plaintext policy, and token attacks through the
 * wire, each answered with a FATAL 28P01 that says what was wrong.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createHmac, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importJWK, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { passwordMessage, sslRequest, startupMessage } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { startPostgresGateway, type PostgresGateway } from '../../runtime/protocols/postgres/listener.ts';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';
import { WireClient } from './wire.ts';

const run = promisify(execFile);
let gw: GatewayFixture;
let tlsOnly: PostgresGateway;
let tlsLoopback: PostgresGateway;

beforeAll(async () => {
  gw = await startGatewayFixture();
  const key = join(gw.dir, 'tls.key');
  const cert = join(gw.dir, 'tls.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert]);
  const tls = { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
  tlsOnly = await startPostgresGateway(gw.runtime.ctx, { host: '127.0.0.1', port: 0, plaintext: 'never', maskKey: gw.runtime.maskKey, tls });
  tlsLoopback = await startPostgresGateway(gw.runtime.ctx, { host: '0.0.0.0', port: 0, plaintext: 'loopback', maskKey: gw.runtime.maskKey, tls });
});
afterAll(async () => {
  await tlsOnly?.close();
  await tlsLoopback?.close();
  await gw?.close();
});

/** Log in with a raw password and return the first error the gateway sends (it must send one). */
async function loginError(password: string, port = gw.port): Promise<Map<string, string>> {
  const c = await WireClient.connect(port);
  try {
    c.send(startupMessage({ user: 'agent', database: 'shop-db' }));
    await c.until((f) => f.code === 'R');
    c.send(passwordMessage(password));
    await c.until((f) => f.code === 'E' || f.code === 'Z');
    const err = c.errors()[0];
    expect(err, `expected a refusal, got ${c.describe()}`).toBeDefined();
    await c.closedWithin(3000);
    return err!;
  } finally {
    c.close();
  }
}

describe('TLS', () => {
  test('psql with sslmode=require works over SSLRequest with a self-signed certificate', async () => {
    const env = { ...(await gw.env('support-agent')), PGPORT: String(tlsOnly.port), PGSSLMODE: 'require' };
    const r = await psql(env, ['-c', 'SELECT email FROM customers ORDER BY id LIMIT 1', '-c', "SELECT 'tls' AS t"]);
    expect(r.out).toMatch(/a\*+@example\.com/);
    const ssl = await psql(env, ['-tA', '-c', 'SELECT 1', '-c', '\\conninfo']);
    expect(ssl.out).toMatch(/SSL connection/);
  });

  test('node-postgres over TLS', async () => {
    const c = new pg.Client({ ...(await gw.conn('tester')), port: tlsOnly.port, ssl: { rejectUnauthorized: false } });
    await c.connect();
    try {
      expect((await c.query('SELECT ssn FROM customers LIMIT 1')).rows[0].ssn).toBe('***');
    } finally {
      await c.end();
    }
  });

  test('plaintext is refused when configured never, before any token is sent', async () => {
    const env = { ...(await gw.env('tester')), PGPORT: String(tlsOnly.port), PGSSLMODE: 'disable' };
    const r = await psql(env, ['-c', 'SELECT 1']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/requires TLS/);
    // and the raw exchange: no AuthenticationCleartextPassword, just a FATAL
    const c = await WireClient.connect(tlsOnly.port);
    c.send(startupMessage({ user: 'a', database: 'shop-db' }));
    await c.closedWithin(3000);
    expect(c.codes()).toBe('E');
    expect(c.errors()[0]!.get('S')).toBe('FATAL');
  });

  test('plaintext from a non-loopback address is refused in loopback mode; TLS from there works', async () => {
    const ip = (await run('hostname', ['-I'])).stdout.split(/\s+/).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a) && !a.startsWith('127.'));
    if (!ip) return expect.soft(ip, 'no non-loopback IPv4 address on this machine').toBeUndefined();
    const env = { ...(await gw.env('tester')), PGHOST: ip, PGPORT: String(tlsLoopback.port) };
    const plain = await psql({ ...env, PGSSLMODE: 'disable' }, ['-c', 'SELECT 1']);
    expect(plain.out).toMatch(/requires TLS/);
    const secure = await psql({ ...env, PGSSLMODE: 'require' }, ['-tA', '-c', 'SELECT 7']);
    expect(secure.stdout.trim()).toBe('7');
  });

  test('bytes sent after SSLRequest before the handshake are refused (CVE-2021-23214)', async () => {
    const s = connect({ host: '127.0.0.1', port: tlsOnly.port });
    await new Promise((r) => s.once('connect', r));
    const got: Buffer[] = [];
    s.on('data', (b) => got.push(b));
    s.write(Buffer.concat([sslRequest(), startupMessage({ user: 'a', database: 'shop-db' })]));
    await new Promise((r) => s.once('close', r));
    const all = Buffer.concat(got);
    // no 'S' (TLS accepted): straight to the FATAL ErrorResponse
    expect(String.fromCharCode(all[0]!)).toBe('E');
    expect(all.toString('latin1')).toMatch(/unencrypted data after an encryption request|after SSLRequest/);
  });
});

describe('token attacks through the wire', () => {
  let jwk: JWK;
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({ iss: 'portcullis-dev', aud: 'portcullis', sub: 'tester', iat: now(), nbf: now(), exp: now() + 600, jti: randomUUID(), ...over });
  async function sign(payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const key = await importJWK(jwk, 'EdDSA');
    return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid!, typ: 'JWT', ...header }).sign(key);
  }
  beforeAll(async () => {
    await gw.token('tester');
    jwk = JSON.parse(await readFile(join(gw.dataDir, 'dev-issuer', 'private.jwk.json'), 'utf8')) as JWK;
  });

  function expectRefused(err: Map<string, string>, message: RegExp): void {
    expect(err.get('S')).toBe('FATAL');
    expect(err.get('C')).toBe('28P01');
    expect(err.get('M')).toMatch(message);
  }

  test('a valid token signed by hand logs in (the attacks below differ in one thing)', async () => {
    const c = await WireClient.login(gw.port, await sign(claims()));
    c.close();
  });
  test('expired', async () => {
    const { token } = await issueToken({ dataDir: gw.dataDir, subject: 'tester', ttl: '1m', now: new Date(Date.now() - 3_600_000) });
    expectRefused(await loginError(token), /expired|"exp"/);
  });
  test('not yet valid', async () => {
    expectRefused(await loginError(await sign(claims({ nbf: now() + 3600, iat: now() + 3600, exp: now() + 7200 }))), /not valid before|not yet valid|nbf/i);
  });
  test('wrong issuer', async () => {
    expectRefused(await loginError(await sign(claims({ iss: 'https://evil.example' }))), /iss/);
  });
  test('wrong audience', async () => {
    expectRefused(await loginError(await sign(claims({ aud: 'someone-else' }))), /aud/);
  });
  test('unknown key id', async () => {
    expectRefused(await loginError(await sign(claims(), { kid: 'no-such-key' })), /key|kid/i);
  });
  test('alg none', async () => {
    expectRefused(await loginError(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`), /none/);
  });
  test('HS256 signed with the public key', async () => {
    const { d: _d, ...pub } = jwk;
    const input = `${b64({ alg: 'HS256', kid: jwk.kid, typ: 'JWT' })}.${b64(claims())}`;
    for (const secret of [JSON.stringify(pub), pub.x!]) {
      const sig = createHmac('sha256', secret).update(input).digest('base64url');
      expectRefused(await loginError(`${input}.${sig}`), /HS256/);
    }
  });
  test('tampered payload', async () => {
    const token = await sign(claims({ sub: 'support-agent' }));
    const [h, , s] = token.split('.');
    expectRefused(await loginError(`${h}.${b64(claims({ sub: 'root-tester' }))}.${s}`), /signature/i);
  });
  test('not a JWT at all, and an empty password', async () => {
    expectRefused(await loginError('hunter2'), /.+/);
    expectRefused(await loginError(''), /.+/);
  });
  test('a subject no identity matches', async () => {
    const err = await loginError(await sign(claims({ sub: 'nobody-at-all' })));
    expect(err.get('S')).toBe('FATAL');
    expect(err.get('M')).toMatch(/nobody-at-all|identity/);
  });
});

describe("the gateway's own statement names on an agent's connection", () => {
  // The catalog guard is a prepared statement the gateway keeps on the agent's backend connection;
  // a client that could replace it would make every guard pass on a stale catalog.
  test('a client can neither prepare nor address the catalog guard, by protocol or by SQL', async () => {
    const c = new pg.Client(await gw.conn('root-tester'));
    await c.connect();
    try {
      const guard = 'portcullis\u0001guard:probe';
      await expect(c.query({ name: guard, text: 'select 0 from (select $1::text) g', values: ['x'] })).rejects.toThrow(/belong to the gateway/);
      await expect(c.query(`prepare u&"portcullis\\0001guard:probe"(text) as select 0`)).rejects.toThrow(/belong to the gateway/);
      await expect(c.query(`execute u&"portcullis\\0001guard:probe"('x')`)).rejects.toThrow(/belong to the gateway/);
      // the connection stays usable, and an ordinary name still works
      expect((await c.query({ name: 'mine', text: 'select 1 as one' })).rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });
});

describe('a catalog guard behind a failed Bind', () => {
  // The guard rides after the client's Parse and Bind; when the Bind fails, PostgreSQL skips the
  // guard too. The session must go on (it used to wait for the guard's answer for ever).
  test('the client gets the Bind error and the session answers its next statement', async () => {
    const c = new pg.Client(await gw.conn('tester'));
    await c.connect();
    try {
      const text = 'select id, email from customers where id = $1';
      await c.query(text, ['1']);
      await c.query(text, ['2']); // decided from the cached verdict: a guard goes ahead of it
      await expect(c.query(text, ['not a number'])).rejects.toThrow(/invalid input syntax/);
      const after = await c.query(text, ['1']);
      expect(after.rows[0]?.email).not.toMatch(/^[^*]+@[^*]+$/);
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });
});
