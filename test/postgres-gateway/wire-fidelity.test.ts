/**
 * What a PostgreSQL client sees through the gateway is what PostgreSQL itself would send: empty
 * queries, stray COPY messages, 65,535 parameters, terminated backends, parse errors with their
 * Position; and the gateway's own connection lifecycle: sockets fully closed, abandoned logins
 * released, statements cancelled when the gateway ends a session.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bind, copyData, copyDone, copyFail, execute, parse, passwordMessage, query, startupMessage, sync } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { createScratchDatabase, pgClient } from '../harness/postgres.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { WireClient } from './wire.ts';

let gw: GatewayFixture;
let scratch: { name: string; drop: () => Promise<void> };
beforeAll(async () => {
  scratch = await createScratchDatabase('fidelity');
  gw = await startGatewayFixture({ scratch: scratch.name });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

/** Wait (polling a condition that does not depend on timing) up to a generous deadline. */
async function eventually(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function superuserQuery(sql: string, database?: string): Promise<any[]> {
  const c = await pgClient(database);
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL fidelity', () => {
  test('empty and comment-only queries get EmptyQueryResponse, as from PostgreSQL', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(query(''), query(';'), query('   '), query('-- x'), query('SELECT 1'));
      await c.readyCount(5);
      expect(c.errors()).toEqual([]);
      expect(c.codes()).toBe('IZIZIZIZTDCZ');
      c.frames.length = 0;
      c.send(parse('', ''), bind({}), execute(), sync());
      await c.readyCount(1);
      expect(c.codes()).toBe('12IZ');
    } finally {
      c.close();
    }
  });

  test('CopyFail, CopyDone and CopyData outside COPY are ignored; messages before them in the same packet are answered', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(query('SELECT 1'), copyFail('stray'), copyDone(), copyData(Buffer.from('x\n')), query('SELECT 2'));
      await c.readyCount(2);
      expect(c.errors()).toEqual([]);
      expect(c.codes()).toBe('TDCZTDCZ');
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  });

  test('a statement with 40,000 parameters (counts are unsigned 16-bit) is accepted', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      const n = 40_000;
      const params = Array.from({ length: n }, (_, i) => String(i + 1));
      c.send(parse('', `SELECT $1::int AS first, $${n}::int AS last`, new Array<number>(n).fill(23)), bind({ params }), execute(), sync());
      await c.readyCount(1);
      expect(c.errors()).toEqual([]);
      const row = c.frames.find((f) => f.code === 'D');
      expect(row?.body.subarray(2).toString('latin1')).toContain(String(n));
    } finally {
      c.close();
    }
  });

  test("PostgreSQL's parse errors keep PostgreSQL's text, SQLSTATE and Position; the gateway's part is in the HINT", async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(query('SELECT 1; selec 2'));
      await c.readyCount(1);
      const [e] = c.errors();
      expect(e?.get('C')).toBe('42601');
      expect(e?.get('M')).toBe('syntax error at or near "selec"');
      expect(e?.get('P')).toBe('11');
      expect(e?.get('H')).toMatch(/^portcullis: /);
      c.frames.length = 0;
      c.send(parse('', "SELECT '"), bind({}), execute(), sync());
      await c.readyCount(1);
      expect(c.errors()[0]?.get('M')).toMatch(/unterminated quoted string/);
      expect(c.errors()[0]?.get('P')).toBe('8');
    } finally {
      c.close();
    }
  });
});

describe('terminated backends', () => {
  async function backendOf(c: WireClient): Promise<number> {
    c.frames.length = 0;
    c.send(query('SELECT pg_backend_pid()'));
    await c.readyCount(1);
    const row = c.frames.find((f) => f.code === 'D');
    const pid = Number(row!.body.subarray(6).toString('latin1'));
    c.frames.length = 0;
    return pid;
  }

  test('a busy backend that is terminated: the client gets 57P01 once and nothing after it', async () => {
    const c = await WireClient.login(gw.port, await gw.token('root-tester'));
    try {
      const pid = await backendOf(c);
      c.send(query('SELECT pg_sleep(60)'));
      await eventually(async () => (await superuserQuery(`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid} AND state = 'active'`)).length === 1, 'pg_sleep to run');
      await superuserQuery(`SELECT pg_terminate_backend(${pid})`);
      await c.closedWithin(15_000);
      const errors = c.errors();
      expect(errors.map((e) => `${e.get('S')} ${e.get('C')}`)).toEqual(['FATAL 57P01']);
    } finally {
      c.close();
    }
  });

  test('an idle backend that is terminated: 57P01, not XX000', async () => {
    const c = await WireClient.login(gw.port, await gw.token('root-tester'));
    try {
      const pid = await backendOf(c);
      await superuserQuery(`SELECT pg_terminate_backend(${pid})`);
      await c.closedWithin(15_000);
      expect(c.errors().map((e) => `${e.get('S')} ${e.get('C')}`)).toEqual(['FATAL 57P01']);
    } finally {
      c.close();
    }
  });

  test('a killed catalog connection is replaced transparently', async () => {
    const table = `fresh_${randomBytes(4).toString('hex')}`;
    const c = await WireClient.login(gw.port, await gw.token('tester'), 'plain-db');
    try {
      c.send(query('SELECT id FROM orders LIMIT 1'));
      await c.readyCount(1);
      const killed = await superuserQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portcullis-catalog' AND datname = '${scratch.name}'`);
      expect(killed.length).toBeGreaterThan(0);
      await superuserQuery(`CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (7)`, scratch.name);
      c.frames.length = 0;
      // an unknown relation makes the session refresh its catalog
      c.send(query(`SELECT id FROM ${table}`));
      await c.readyCount(1);
      expect(c.errors()).toEqual([]);
      expect(c.frames.filter((f) => f.code === 'D')).toHaveLength(1);
    } finally {
      c.close();
    }
  });
});

describe('connection lifecycle', () => {
  function rawConnect(allowHalfOpen = false): Promise<Socket & { got: Buffer[]; ended: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: gw.port, allowHalfOpen }) as Socket & { got: Buffer[]; ended: Promise<void> };
      s.got = [];
      s.ended = new Promise((r) => s.once('end', () => r()));
      s.on('data', (b) => s.got.push(b));
      s.on('error', () => {});
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  test('bytes that are not a startup packet (a Terminate sent first) are answered by a silent close', async () => {
    const s = await rawConnect();
    s.write(Buffer.from([0x58, 0, 0, 0, 4]));
    await s.ended;
    expect(Buffer.concat(s.got).length).toBe(0);
    s.destroy();
  });

  test('a client that sends its token and leaves before the session starts: backend released, session.end written', async () => {
    const before = (await gw.evidence(['session.start'])).length;
    const s = await rawConnect();
    s.write(startupMessage({ user: 'capped', database: 'shop-db' }));
    await new Promise<void>((r) => s.once('data', () => r()));
    s.end(passwordMessage(await gw.token('capped')));
    s.destroy();
    await eventually(async () => (await gw.evidence(['session.start'])).length > before, 'the session to be recorded');
    const started = (await gw.evidence(['session.start'])).filter((r) => r.data.identity === 'capped').map((r) => r.data.sessionId ?? r.data.id);
    await eventually(async () => {
      const ended = new Set((await gw.evidence(['session.end'])).map((r) => r.data.sessionId ?? r.data.id));
      return started.every((id) => ended.has(id));
    }, 'session.end for the abandoned session');
    await eventually(() => gw.gateway.sessions() === 0, 'the session to be released');
  });

  test('after pre-authentication FATALs and protocol violations, clients that keep their side open hold no gateway socket', async () => {
    const baseline = gw.gateway.connections();
    const clients: Socket[] = [];
    // refused before authentication with a FATAL (an encoding the gateway does not speak)
    for (let i = 0; i < 10; i++) {
      const s = await rawConnect(true);
      s.write(startupMessage({ user: 'tester', database: 'shop-db', client_encoding: 'SJIS' }));
      clients.push(s);
    }
    // a protocol violation in a session, followed at once by more bytes
    for (let i = 0; i < 5; i++) {
      const c = await WireClient.login(gw.port, await gw.token('tester'));
      c.send(Buffer.from([0x01, 0, 0, 0, 4]), Buffer.alloc(64 * 1024, 0x51));
      clients.push(c.socket);
    }
    try {
      await eventually(() => gw.gateway.connections() === baseline, `the gateway's sockets to close (${gw.gateway.connections()} open, baseline ${baseline})`);
    } finally {
      for (const s of clients) s.destroy();
    }
  });

  test('a statement still running when the token expires is cancelled on the backend', async () => {
    const marker = `expiry_${randomBytes(4).toString('hex')}`;
    const c = await WireClient.login(gw.port, await gw.token('root-tester', '3s'));
    try {
      c.send(query(`SELECT pg_sleep(120) AS ${marker}`));
      await c.closedWithin(15_000);
      expect(c.errors().at(-1)?.get('M')).toMatch(/token expired/);
      await eventually(
        async () => (await superuserQuery(`SELECT 1 FROM pg_stat_activity WHERE query LIKE '%${marker}%' AND pid <> pg_backend_pid() AND state = 'active'`)).length === 0,
        'pg_sleep to be cancelled',
        20_000,
      );
    } finally {
      c.close();
    }
  });
});
