/**
 * Conditions and limits enforced by the gateway: maxRows (plain, extended, cursors), requireWhere,
 * CancelRequest, and session limits (idle timeout, maximum duration, token expiry) ending the
 * session with a FATAL error and a session.end record.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { bind, cancelRequest, execute, parse, query, sync } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { decodeErrorFields } from '../../runtime/protocols/postgres/wire/backend.ts';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';
import { WireClient } from './wire.ts';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(async () => {
  await gw?.close();
});

async function pgConnect(subject: string, ttl?: string): Promise<pg.Client> {
  const c = new pg.Client(await gw.conn(subject, 'shop-db', ttl));
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('maxRows', () => {
  test('a simple query is truncated with a WARNING naming the rule; the tag says what was delivered', async () => {
    const c = await pgConnect('capped');
    const notices: { severity?: string; message: string }[] = [];
    c.on('notice', (n) => notices.push({ message: n.message ?? '', ...(n.severity ? { severity: n.severity } : {}) }));
    try {
      const r = await c.query('SELECT id FROM orders ORDER BY id');
      expect(r.rows.map((x) => x.id)).toEqual([1, 2, 3]);
      expect(r.rowCount).toBe(3);
      expect(notices[0]?.severity).toBe('WARNING');
      expect(notices[0]?.message).toMatch(/truncated to 3 of \d+ rows by maxRows of rule test-capped\/three-rows/);
      // extended protocol too
      const e = await c.query({ text: 'SELECT id FROM orders WHERE id > $1 ORDER BY id', values: [10] });
      expect(e.rows.map((x) => x.id)).toEqual([11, 12, 13]);
    } finally {
      await c.end();
    }
  });

  test('a portal executed in batches counts rows across Executes', async () => {
    const c = await WireClient.login(gw.port, await gw.token('capped'));
    try {
      c.send(query('BEGIN'), parse('', 'SELECT id FROM orders ORDER BY id'), bind({ portal: 'p' }), execute('p', 2), execute('p', 2), execute('p', 0), sync(), query('COMMIT'));
      await c.readyCount(3);
      expect(c.frames.filter((f) => f.code === 'D')).toHaveLength(3);
    } finally {
      c.close();
    }
  });

  test('a cursor is capped across FETCHes, not per FETCH', async () => {
    const c = await pgConnect('capped');
    try {
      await c.query('BEGIN');
      await c.query('DECLARE cur CURSOR FOR SELECT id FROM orders ORDER BY id');
      const a = await c.query('FETCH 2 FROM cur');
      const b = await c.query('FETCH 2 FROM cur');
      const rest = await c.query('FETCH ALL FROM cur');
      expect(a.rows.length + b.rows.length + rest.rows.length).toBe(3);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  });

  test('psql shows the warning', async () => {
    const r = await psql(await gw.env('capped'), ['-c', 'SELECT id FROM orders']);
    expect(r.out).toMatch(/\(3 rows\)/);
    expect(r.out).toMatch(/WARNING: {2}portcullis: result truncated to 3/);
  });
});

describe('backpressure', () => {
  test('a client that stops reading a large masked result gets all of it once it reads again', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.socket.pause();
      c.send(query("SELECT c.email, c.ssn, repeat('x', 300) AS pad FROM customers c, generate_series(1, 400) g"));
      await new Promise((r) => setTimeout(r, 700));
      c.socket.resume();
      await c.readyCount(1, 25_000);
      const rows = c.frames.filter((f) => f.code === 'D').length;
      const total = Number(/SELECT (\d+)/.exec(c.frames.find((f) => f.code === 'C')!.body.toString())?.[1]);
      expect(rows).toBe(total);
      expect(rows).toBeGreaterThan(10_000);
      expect(c.errors()).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('requireWhere', () => {
  test('UPDATE/DELETE without WHERE are refused, with WHERE allowed', async () => {
    const c = await pgConnect('capped');
    try {
      const err = await c.query('DELETE FROM orders').then(
        () => undefined,
        (e: pg.DatabaseError) => e,
      );
      expect(err?.code).toBe('42501');
      expect(err?.message).toMatch(/WHERE/i);
      const ok = await c.query('DELETE FROM orders WHERE id = -1');
      expect(ok.rowCount).toBe(0);
    } finally {
      await c.end();
    }
  });
});

describe('CancelRequest', () => {
  test('cancels a running pg_sleep through the mapped key', async () => {
    const c = await WireClient.login(gw.port, await gw.token('root-tester'));
    try {
      expect(c.key).toBeDefined();
      const started = Date.now();
      c.send(query('SELECT pg_sleep(20)'));
      await new Promise((r) => setTimeout(r, 300));
      const s = connect({ host: '127.0.0.1', port: gw.port });
      await new Promise((r) => s.once('connect', r));
      s.end(cancelRequest(c.key!.processId, c.key!.secretKey));
      const e = await c.until((f) => f.code === 'E', 8000);
      expect(decodeErrorFields(e.body).get('C')).toBe('57014');
      await c.readyCount(1);
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      c.close();
    }
  });

  test('a wrong key cancels nothing', async () => {
    const c = await WireClient.login(gw.port, await gw.token('root-tester'));
    try {
      c.send(query('SELECT pg_sleep(0.8)'));
      const s = connect({ host: '127.0.0.1', port: gw.port });
      await new Promise((r) => s.once('connect', r));
      s.end(cancelRequest(c.key!.processId, c.key!.secretKey ^ 1));
      await c.readyCount(1);
      expect(c.errors()).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('session limits', () => {
  async function endReason(sessionCount: number): Promise<string[]> {
    return (await gw.evidence(['session.end'])).slice(-sessionCount).map((r) => r.data.reason);
  }

  test('idle timeout ends the session with FATAL and a session.end record', async () => {
    const c = await WireClient.login(gw.port, await gw.token('limited'));
    c.send(query('SELECT 1'));
    await c.readyCount(1);
    await c.closedWithin(4000);
    const fatal = c.errors().at(-1);
    expect(fatal?.get('S')).toBe('FATAL');
    expect(fatal?.get('M')).toMatch(/idle for (1500ms|1s500ms|1.5s)/);
    await expect.poll(async () => (await gw.evidence(['session.end'])).map((r) => r.data.reason)).toContain('idle-timeout');
  });

  test('maximum duration ends a busy session', async () => {
    const c = await WireClient.login(gw.port, await gw.token('limited'));
    const started = Date.now();
    while (!c.closed && Date.now() - started < 8000) {
      c.send(query('SELECT 1'));
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(c.closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(3500);
    expect(c.errors().at(-1)?.get('M')).toMatch(/maximum duration of 4s/);
    await expect.poll(async () => (await gw.evidence(['session.end'])).map((r) => r.data.reason)).toContain('max-duration');
  });

  test('token expiry ends the session with 28P01-class FATAL', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester', '2s'));
    await c.closedWithin(4000);
    const fatal = c.errors().at(-1);
    expect(fatal?.get('S')).toBe('FATAL');
    expect(fatal?.get('C')).toBe('28P01');
    expect(fatal?.get('M')).toMatch(/token expired/);
    await expect.poll(() => endReason(10)).toContain('token-expired');
  });
});
