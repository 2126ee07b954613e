/**
 * Real clients through the gateway: node-postgres (simple, extended, binary, reused named
 * statements), postgres.js (Parse/Describe/Flush without Sync) and psql, and the outcomes an agent
 * sees: allowed, masked, denied and review, each refusal a 42501 naming the rule and the policy.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { createScratchDatabase, pgClient } from '../harness/postgres.ts';
import { shortRevision } from '../../runtime/bundle/revision.ts';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';
import { loadSecrets, type Secrets } from './secrets.ts';

let gw: GatewayFixture;
let secrets: Secrets;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let revision: string;

beforeAll(async () => {
  scratch = await createScratchDatabase('gwcli');
  [gw, secrets] = await Promise.all([startGatewayFixture({ scratch: scratch.name }), loadSecrets()]);
  revision = shortRevision(gw.runtime.ctx.bundle()!.revision);
});
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

async function pgConnect(subject: string, target = 'shop-db', extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ ...(await gw.conn(subject, target)), ...extra });
  await c.connect();
  return c;
}

async function refusal(p: Promise<unknown>): Promise<pg.DatabaseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the statement should have been refused').toBeInstanceOf(Error);
  return err as pg.DatabaseError;
}

describe('node-postgres', () => {
  test('allowed, masked, denied and review outcomes as the example policy gives them', async () => {
    const support = await pgConnect('support-agent');
    const data = await pgConnect('data-agent');
    try {
      const orders = await support.query('SELECT id, total, status FROM orders ORDER BY id LIMIT 5');
      expect(orders.rows).toHaveLength(5);
      expect(orders.rows[0]).toMatchObject({ id: 1 });

      const masked = await support.query('SELECT email, ssn, phone, card_number FROM customers ORDER BY id');
      expect(masked.rows[0].email).toMatch(/^a\*+@example\.com$/);
      expect(masked.rows[0].ssn).toBe('***');
      expect(masked.rows[0].card_number).toMatch(/^\*{12}\d{4}$/);
      expect(secrets.leak(JSON.stringify(masked.rows))).toBeUndefined();

      const hashed = await data.query('SELECT email FROM customers ORDER BY id LIMIT 2');
      expect(hashed.rows[0].email).not.toMatch(/@example\.com$/);
      expect(hashed.rows[0].email).not.toBe(hashed.rows[1].email);

      const denied = await refusal(support.query('DELETE FROM orders WHERE id = 1'));
      expect(denied.code).toBe('42501');
      expect(denied.message).toContain('support-read/no-writes');
      expect(denied.message).toContain(revision);

      const review = await refusal(data.query('DELETE FROM orders WHERE id = 1'));
      expect(review.code).toBe('42501');
      expect(review.message).toContain('data-maintenance/deletes-need-dba');
      expect(review.message).toContain(revision);

      const ddl = await refusal(support.query('CREATE TABLE x (a int)'));
      expect(ddl.code).toBe('42501');
      expect(ddl.message).toContain('agents-baseline/no-ddl');
      // the session survives every refusal
      expect((await support.query('SELECT count(*)::int AS n FROM products')).rows[0].n).toBeGreaterThan(0);
    } finally {
      await support.end();
      await data.end();
    }
  });

  test('extended protocol: parameters, named statements reused with only Bind/Execute, rowMode array', async () => {
    const c = await pgConnect('tester');
    try {
      for (let i = 1; i <= 5; i++) {
        const r = await c.query({ name: 'by-id', text: 'SELECT id, email, ssn FROM customers WHERE id = $1', values: [i], rowMode: 'array' });
        expect(r.rows).toHaveLength(1);
        expect(r.rows[0]![0]).toBe(i);
        expect(r.rows[0]![2]).toBe('***');
      }
      const refused = await refusal(c.query({ name: 'bad', text: "SELECT email || '' FROM customers WHERE id = $1", values: [1] }));
      expect(refused.code).toBe('42501');
      // the named statement still works after a refusal in the same session
      expect((await c.query({ name: 'by-id', text: 'SELECT id, email, ssn FROM customers WHERE id = $1', values: [2] })).rows).toHaveLength(1);
    } finally {
      await c.end();
    }
  });

  test('binary result format (types.getTypeParser with binary) is masked to valid values', async () => {
    const c = await pgConnect('tester');
    try {
      const r = await c.query({
        text: 'SELECT id, email, ssn, card_number, created_at FROM customers ORDER BY id LIMIT 3',
        binary: true,
        types: { getTypeParser: () => (v: Buffer | string) => (typeof v === 'string' ? v : Buffer.from(v).toString('hex')) },
      } as pg.QueryConfig & { binary: boolean });
      expect(r.rows).toHaveLength(3);
      const text = r.rows
        .map((row) =>
          Object.values(row)
            .map((v) => (/^[0-9a-f]+$/.test(String(v)) ? Buffer.from(String(v), 'hex').toString('latin1') : String(v)))
            .join('|'),
        )
        .join('\n');
      expect(secrets.leak(text)).toBeUndefined();
      expect(text).toContain('***');
    } finally {
      await c.end();
    }
  });

  test('errors mid-stream: rows then an error, and the session goes on', async () => {
    const c = await pgConnect('tester');
    try {
      const err = await refusal(c.query('SELECT 10 / (5 - g) AS x FROM generate_series(1, 10) g'));
      expect(err.code).toBe('22012');
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  test('large results arrive whole through backpressure, masked ones too', async () => {
    const c = await pgConnect('tester');
    try {
      const plain = await c.query({ text: "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 100000) g", rowMode: 'array' });
      expect(plain.rows).toHaveLength(100_000);
      expect(plain.rows[99_999]![0]).toBe(100_000);
      const masked = await c.query({ text: 'SELECT c.email, c.ssn, g FROM customers c, generate_series(1, 2000) g', rowMode: 'array' });
      expect(masked.rows.length).toBeGreaterThan(50_000);
      expect(masked.rows.every((r: unknown[]) => r[1] === '***')).toBe(true);
      expect(secrets.leak(JSON.stringify(masked.rows.slice(0, 200)))).toBeUndefined();
    } finally {
      await c.end();
    }
  });

  test('LISTEN/NOTIFY: notifications reach the listener', async () => {
    const a = await pgConnect('tester');
    const b = await pgConnect('tester');
    try {
      await a.query('LISTEN gw_test');
      const got = new Promise<pg.Notification>((resolve) => a.on('notification', resolve));
      await b.query("NOTIFY gw_test, 'hello'");
      const n = await got;
      expect(n.channel).toBe('gw_test');
      expect(n.payload).toBe('hello');
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('ParameterStatus the backend reports mid-session reaches the client', async () => {
    const c = await pgConnect('tester');
    try {
      const seen: { parameterName: string; parameterValue: string }[] = [];
      (c as unknown as { connection: { on(e: string, f: (m: never) => void): void } }).connection.on('parameterStatus', (m) => void seen.push(m));
      await c.query("SET application_name = 'changed-by-agent'");
      expect(seen).toContainEqual(expect.objectContaining({ parameterName: 'application_name', parameterValue: 'changed-by-agent' }));
    } finally {
      await c.end();
    }
  });
});

describe('postgres.js (Parse/Describe/Flush without Sync, cached named statements)', () => {
  test('queries with parameters, masks, refusals and a transaction', async () => {
    const conn = await gw.conn('tester', 'scratch-db');
    const sql = postgres({ ...conn, username: conn.user, max: 1, prepare: true, onnotice: () => {}, connect_timeout: 10 });
    try {
      for (let i = 1; i <= 3; i++) {
        const rows = await sql`SELECT id, email, ssn FROM customers WHERE id = ${i}`;
        expect(rows[0]!.ssn).toBe('***');
        expect(rows[0]!.email).toMatch(/\*/);
      }
      const err = await sql`SELECT upper(email) FROM customers WHERE id = ${1}`.then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(err?.code).toBe('42501');
      const [{ n }] = (await sql`SELECT count(*)::int AS n FROM orders WHERE total > ${0}`) as unknown as [{ n: number }];
      expect(n).toBeGreaterThan(0);
      const inserted = await sql.begin(async (tx) => {
        const [row] = await tx`INSERT INTO orders (customer_id, total, status) VALUES (${1}, ${9.5}, ${'pjs'}) RETURNING id`;
        return row!.id as number;
      });
      const again = await sql`SELECT status FROM orders WHERE id = ${inserted}`;
      expect(again[0]!.status).toBe('pjs');
      // unnamed statements too
      const unsafe = await sql.unsafe('SELECT card_number FROM customers WHERE id = $1', [3], { prepare: false });
      expect(unsafe[0]!.card_number).toMatch(/^\*+\d{4}$/);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('psql', () => {
  test('the README flow: allowed, masked, denied, review', async () => {
    const r = await psql(await gw.env('support-agent'), [
      '-c',
      'SELECT id, status FROM orders ORDER BY id LIMIT 2',
      '-c',
      'SELECT email, ssn FROM customers ORDER BY id LIMIT 1',
      '-c',
      'UPDATE orders SET status = status WHERE id = 1',
    ]);
    expect(r.out).toMatch(/\(2 rows\)/);
    expect(r.out).toMatch(/a\*+@example\.com \| \*\*\*/);
    expect(r.out).toMatch(/ERROR: {2}portcullis: denied by rule support-read\/no-writes/);
    const review = await psql(await gw.env('data-agent'), ['-c', 'DELETE FROM orders WHERE id = 1']);
    expect(review.out).toMatch(/ERROR: {2}portcullis: the statement was not run: waiting for approval ap-[0-9a-f]+: needs 1 of dba \(rule data-maintenance\/deletes-need-dba\)/);
    expect(secrets.leak(r.out + review.out)).toBeUndefined();
  });

  test('a wrong database name lists the targets; a bad token is 28P01', async () => {
    const env = await gw.env('tester');
    const wrong = await psql({ ...env, PGDATABASE: 'nope' }, ['-c', 'SELECT 1']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/no target named 'nope'/);
    expect(wrong.out).toMatch(/shop-db/);
    const bad = await psql({ ...env, PGPASSWORD: 'not-a-jwt' }, ['-c', 'SELECT 1']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/portcullis/);
  });
});

describe('statements, transactions and COPY against the backend (scratch copy)', () => {
  async function direct<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const c = await pgClient(scratch.name);
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  }

  test('a multi-statement string with one refused statement runs none of them', async () => {
    const c = await pgConnect('tester', 'scratch-db');
    try {
      const err = await refusal(c.query("INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'multi-refused'); DELETE FROM products WHERE id = 1"));
      expect(err.code).toBe('42501');
      expect(err.message).toContain('test-everything/orders-delete-review');
      expect(await direct("SELECT id FROM orders WHERE status = 'multi-refused'")).toEqual([]);
      await c.query("INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'multi-ok'); UPDATE orders SET total = 2 WHERE status = 'multi-ok'");
      expect(await direct("SELECT total::int AS t FROM orders WHERE status = 'multi-ok'")).toEqual([{ t: 2 }]);
    } finally {
      await c.end();
    }
  });

  test('a refusal inside an explicit transaction aborts it exactly like PostgreSQL: COMMIT becomes ROLLBACK', async () => {
    const c = await pgConnect('tester', 'scratch-db');
    try {
      await c.query('BEGIN');
      await c.query("INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'tx-aborted')");
      const err = await refusal(c.query('DELETE FROM products WHERE id = 2'));
      expect(err.code).toBe('42501');
      const next = await refusal(c.query('SELECT 1'));
      expect(next.code).toBe('25P02'); // in_failed_sql_transaction, from the backend itself
      const commit = await c.query('COMMIT');
      expect(commit.command).toBe('ROLLBACK');
      expect(await direct("SELECT id FROM orders WHERE status = 'tx-aborted'")).toEqual([]);
      // and the same in the extended protocol
      await c.query('BEGIN');
      await c.query({ text: 'INSERT INTO orders (customer_id, total, status) VALUES ($1, 1, $2)', values: [1, 'tx-aborted-ext'] });
      expect((await refusal(c.query({ text: 'DELETE FROM products WHERE id = $1', values: [2] }))).code).toBe('42501');
      expect((await c.query('COMMIT')).command).toBe('ROLLBACK');
      expect(await direct("SELECT id FROM orders WHERE status = 'tx-aborted-ext'")).toEqual([]);
    } finally {
      await c.end();
    }
  });

  test('COPY FROM STDIN and TO STDOUT, allowed and refused (psql)', async () => {
    const env = await gw.env('tester', 'scratch-db');
    const rows = '1\t3.50\tcopied-in\n2\t4.50\tcopied-in\n';
    const ok = await psql(env, ['-c', 'COPY orders (customer_id, total, status) FROM STDIN'], rows);
    expect(ok.out).toMatch(/COPY 2/);
    expect(await direct("SELECT count(*)::int AS n FROM orders WHERE status = 'copied-in'")).toEqual([{ n: 2 }]);
    const out = await psql(env, ['-c', "COPY (SELECT customer_id, status FROM orders WHERE status = 'copied-in' ORDER BY id) TO STDOUT"]);
    expect(out.stdout).toBe('1\tcopied-in\n2\tcopied-in\n');

    const support = await gw.env('support-agent', 'shop-db');
    const refusedIn = await psql(support, ['-c', 'COPY orders (customer_id, total, status) FROM STDIN'], rows);
    expect(refusedIn.out).toMatch(/ERROR: {2}portcullis: denied by rule support-read\/no-writes/);
    const refusedOut = await psql(support, ['-c', 'COPY orders TO STDOUT']);
    expect(refusedOut.out).toMatch(/ERROR: {2}portcullis: denied by rule support-read\/no-writes/);
    expect(refusedOut.stdout).not.toMatch(/\d+\t\d+\t/);
    // the session is usable after the refused COPY FROM (no stray CopyData reached the backend)
    const after = await psql(support, ['-c', 'COPY orders (customer_id, total, status) FROM STDIN', '-c', 'SELECT 41 + 1 AS answer FROM products LIMIT 1'], rows);
    expect(after.out).toMatch(/\b42\b/);
  });

  test('COPY FROM STDIN through node-postgres-style raw CopyData, then CopyFail', async () => {
    const env = await gw.env('tester', 'scratch-db');
    const r = await psql(env, ['-v', 'ON_ERROR_STOP=1', '-c', '\\copy orders (customer_id, total, status) from stdin'], '1\t1\tbackslash-copy\n\\.\n');
    expect(r.out).toMatch(/COPY 1/);
    expect(await direct("SELECT count(*)::int AS n FROM orders WHERE status = 'backslash-copy'")).toEqual([{ n: 1 }]);
  });
});
