/**
 * "A record for every statement the backend could see", through the wire: empty and comment-only
 * queries answer EmptyQueryResponse (as PostgreSQL does) and the session goes on; unparseable text,
 * fast-path calls and an EXECUTE the gateway cannot resolve are refused; and every one of them has a
 * decision record saying what happened.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { functionCall, parse, bind, execute, sync, query } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { WireClient } from './wire.ts';

let gw: GatewayFixture;

beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(async () => {
  await gw?.close();
});

async function decisionsFor(text: string): Promise<any[]> {
  return (await gw.evidence(['decision'])).filter((r) => r.data.request?.statement?.text === text).map((r) => r.data.decision);
}

describe('empty and comment-only queries', () => {
  test.each([';', '-- c', '/* c */', '   ', ';;'])('%j answers EmptyQueryResponse, is recorded, and the session goes on', async (sql) => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(query(sql));
      await c.readyCount(1);
      expect(c.codes()).toBe('IZ');
      c.send(query('select 1 as one'));
      await c.readyCount(2);
      expect(c.codes()).toBe('IZTDCZ');
      const recorded = await decisionsFor(sql.trim() === '' ? sql : sql);
      expect(recorded.length).toBeGreaterThan(0);
      expect(recorded.at(-1).reason).toMatch(/empty query/);
    } finally {
      c.close();
    }
  });

  test('node-postgres: an empty query, then a real one, on one session', async () => {
    const c = new pg.Client(await gw.conn('tester'));
    await c.connect();
    try {
      await c.query('-- only a comment');
      expect((await c.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await c.end();
    }
  });

  test('an empty prepared statement, executed, is recorded too', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(parse('', '/* nothing */'), bind({}), execute('', 0), sync());
      await c.readyCount(1);
      expect(c.codes()).toContain('I');
      expect(c.errors()).toEqual([]);
      expect((await decisionsFor('/* nothing */')).at(-1)?.reason).toMatch(/empty query/);
    } finally {
      c.close();
    }
  });
});

describe('refused before the backend, recorded with the reason', () => {
  test('unparseable SQL (simple and extended)', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(query('selec nonsense from'));
      await c.readyCount(1);
      c.send(parse('', 'select from where ('), bind({}), execute('', 0), sync());
      await c.readyCount(2);
      expect(c.errors()).toHaveLength(2);
      for (const text of ['selec nonsense from', 'select from where (']) {
        const d = (await decisionsFor(text)).at(-1);
        expect(d?.effect, text).toBe('deny');
        expect(d?.reason).toMatch(/^unparseable: /);
      }
    } finally {
      c.close();
    }
  });

  test('a fast-path function call', async () => {
    const c = await WireClient.login(gw.port, await gw.token('tester'));
    try {
      c.send(functionCall(1598, [])); // pg_catalog.random
      await c.readyCount(1);
      expect(c.errors()[0]?.get('M')).toMatch(/fast-path/);
      const d = (await gw.evidence(['decision']))
        .map((r) => r.data)
        .filter((x) => x.request?.statement?.text?.startsWith('-- fast-path function call'))
        .at(-1);
      expect(d?.decision.effect).toBe('deny');
      expect(d?.request.statement.text).toContain('1598');
    } finally {
      c.close();
    }
  });

  test('an EXECUTE of a statement not prepared through the gateway is recorded as refused, not allowed', async () => {
    // root-tester may run admin statements, so the policy alone would allow it
    const c = new pg.Client(await gw.conn('root-tester'));
    c.on('error', () => {});
    await c.connect();
    try {
      const err = await c.query('execute made_elsewhere').then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/not declared through this gateway session/);
      const d = (await decisionsFor('execute made_elsewhere')).at(-1);
      expect(d?.effect).toBe('deny');
      expect(d?.reason).toMatch(/^refused: /);
    } finally {
      await c.end();
    }
  });
});
