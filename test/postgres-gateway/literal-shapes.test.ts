/**
 * Statements that differ only in numbers share one analysis and one verdict in the gateway (no parse
 * per literal). Through the real gateway: a number that changes what is read is never shared, the
 * evidence holds each statement's own text, a rule matching statement text sees every text, and the
 * settings that would make the backend read bytes differently from the gateway are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { psql, startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { createScratchDatabase, pgClient } from '../harness/postgres.ts';
import { loadSecrets, type Secrets } from './secrets.ts';

const PATTERN_POLICY = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: patterned }
spec: { kind: agent, match: { subject: patterned }, groups: [patterned] }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-patterned }
spec:
  subjects: [{ group: patterned }]
  targets: [shop-db]
  rules:
    - id: customer-one-only
      effect: allow
      actions: [select]
      resources: [customers]
      when: { statementPattern: "^select name from customers where id = 1$" }
`;

let gw: GatewayFixture;
let secrets: Secrets;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
beforeAll(async () => {
  scratch = await createScratchDatabase('gwlex');
  // Defaults a DBA might set: the gateway pins its own values at startup, which take precedence.
  const admin = await pgClient(scratch.name);
  try {
    await admin.query(`alter database ${scratch.name} set standard_conforming_strings = off`);
    await admin.query(`alter database ${scratch.name} set client_encoding = 'LATIN1'`);
    await admin.query(`create function flip_strings() returns int language plpgsql as $$ begin perform set_config('standard_conforming_strings', 'off', false); return 1; end $$`);
  } finally {
    await admin.end();
  }
  [gw, secrets] = await Promise.all([startGatewayFixture({ scratch: scratch.name, files: { 'policies/patterned.yaml': PATTERN_POLICY } }), loadSecrets()]);
});
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

async function connect(subject: string): Promise<pg.Client> {
  const c = new pg.Client(await gw.conn(subject));
  await c.connect();
  return c;
}

async function outcome(c: pg.Client, sql: string): Promise<{ rows: unknown[][] } | { code: string; message: string }> {
  try {
    const r = await c.query({ text: sql, rowMode: 'array' });
    return { rows: r.rows as unknown[][] };
  } catch (e) {
    const err = e as { code: string; message: string };
    return { code: err.code, message: err.message };
  }
}

describe('statements of one literal shape', () => {
  test('ORDER BY a position is never shared: sorting by a classified column is refused after an allowed sibling', async () => {
    const c = await connect('tester');
    try {
      for (let id = 1; id <= 3; id++) {
        const ok = await outcome(c, `select id, name, email from customers where id > ${id} order by 2`);
        expect('rows' in ok && ok.rows.length > 0, JSON.stringify(ok)).toBe(true);
        expect(secrets.leak(JSON.stringify(ok))).toBeUndefined();
      }
      const refused = await outcome(c, 'select id, name, email from customers where id > 4 order by 3');
      expect(refused).toMatchObject({ code: '42501' });
      expect((refused as { message: string }).message).toMatch(/ORDER BY/);
    } finally {
      await c.end();
    }
  });

  test('each statement is recorded with its own text, masked like the first', async () => {
    const c = await connect('tester');
    const texts = [1, 2, 3, 4, 5].map((id) => `select id, email from customers where id = ${id}`);
    try {
      for (const [i, sql] of texts.entries()) {
        const r = await outcome(c, sql);
        expect('rows' in r && r.rows[0]![0], sql).toBe(i + 1);
        expect(secrets.leak(JSON.stringify(r)), sql).toBeUndefined();
      }
    } finally {
      await c.end();
    }
    const recorded = (await gw.evidence(['decision'])).map((r) => r.data.request.statement.text as string);
    expect(recorded.filter((t) => texts.includes(t))).toEqual(texts);
  });

  test('strings too: each text recorded as sent, an escaped quote is still one string', async () => {
    const c = await connect('tester');
    const names = ['Ada Lovelace', "x' or 'a'='a", 'nobody', 'José Ñúñez'];
    const texts = names.map((n) => `select id, email from customers where name = '${n.replace(/'/g, "''")}'`);
    try {
      const results = [];
      for (const sql of texts) {
        const r = await outcome(c, sql);
        expect('rows' in r, sql).toBe(true);
        expect(secrets.leak(JSON.stringify(r)), sql).toBeUndefined();
        results.push((r as { rows: unknown[][] }).rows.length);
      }
      // the quote-laden name matches no customer: it was a string to PostgreSQL, not a condition
      expect(results[1]).toBe(0);
    } finally {
      await c.end();
    }
    const recorded = (await gw.evidence(['decision'])).map((r) => r.data.request.statement.text as string);
    expect(recorded.filter((t) => texts.includes(t))).toEqual(texts);
  });

  test('a rule matching statement text decides every text itself', async () => {
    const c = await connect('patterned');
    try {
      expect(await outcome(c, 'select name from customers where id = 1')).toMatchObject({ rows: [[expect.any(String)]] });
      for (const id of [2, 10, 1000]) {
        expect(await outcome(c, `select name from customers where id = ${id}`), `id = ${id}`).toMatchObject({ code: '42501' });
      }
      expect(await outcome(c, 'select name from customers where id = 1')).toMatchObject({ rows: [[expect.any(String)]] });
    } finally {
      await c.end();
    }
  });

  test.each(['set standard_conforming_strings = off', "set client_encoding = 'SJIS'", "set names 'BIG5'", 'set backslash_quote = on'])(
    '%s is refused: the backend would lex queries differently from the gateway',
    async (sql) => {
      const c = await connect('tester');
      try {
        expect(await outcome(c, sql)).toMatchObject({ code: '42501' });
        expect(await outcome(c, 'show standard_conforming_strings')).toMatchObject({ rows: [['on']] });
      } finally {
        await c.end();
      }
    },
  );

  test('a client_encoding other than UTF-8 is refused at startup', async () => {
    const env = await gw.env('tester');
    const sjis = await psql({ ...env, PGCLIENTENCODING: 'SJIS' }, ['-c', 'select 1']);
    expect(sjis.code).not.toBe(0);
    expect(sjis.stderr).toMatch(/client_encoding SJIS is not supported/);
    const utf8 = await psql({ ...env, PGCLIENTENCODING: 'UTF8' }, ['-At', '-c', 'select 1']);
    expect(utf8.stdout.trim()).toBe('1');
  });

  test("the backend session lexes as the gateway parses, whatever the database's defaults", async () => {
    const c = new pg.Client(await gw.conn('tester', 'scratch-db'));
    await c.connect();
    try {
      expect(await outcome(c, 'show standard_conforming_strings')).toMatchObject({ rows: [['on']] });
      expect(await outcome(c, 'show client_encoding')).toMatchObject({ rows: [['UTF8']] });
    } finally {
      await c.end();
    }
  });

  test('a function that turns standard_conforming_strings off ends the session', async () => {
    // plain-db: the same database without classified columns, where user functions may run
    const c = new pg.Client(await gw.conn('tester', 'plain-db'));
    const ended = new Promise<Error>((resolve) => c.on('error', resolve));
    await c.connect();
    const r = await outcome(c, 'select flip_strings()');
    const error = 'code' in r ? r : await ended;
    expect(error.message).toMatch(/standard_conforming_strings changed to off/);
    await expect(c.query('select 1')).rejects.toThrow();
    await c.end().catch(() => undefined);
    const ends = (await gw.evidence(['session.end'])).map((e) => e.data.reason);
    expect(ends).toContain('backend-setting-changed');
  });

  test("the gateway's catalog connection is named apart from agent sessions", async () => {
    const c = new pg.Client(await gw.conn('tester', 'scratch-db'));
    await c.connect();
    const admin = await pgClient(scratch.name);
    try {
      await outcome(c, 'select 1');
      const names = (await admin.query('select application_name from pg_stat_activity where datname = $1', [scratch.name])).rows.map((r) => r.application_name as string);
      expect(names).toContain('portcullis-catalog');
      expect(names).toContain('portcullis');
    } finally {
      await admin.end();
      await c.end();
    }
  });
});
