/**
 * "Masked means masked", through the real gateway: every shape in DESIGN's list is run against the
 * sample data and NO raw classified value may appear in any byte the client received, whether the
 * gateway masked the result or refused the statement.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bind, execute, parse, query, sync, flush, close as closeMsg } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { decodeDataRow, decodeErrorFields } from '../../runtime/protocols/postgres/wire/backend.ts';
import { createScratchDatabase } from '../harness/postgres.ts';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';
import { loadSecrets, type Secrets } from './secrets.ts';
import { WireClient } from './wire.ts';

let gw: GatewayFixture;
let secrets: Secrets;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

beforeAll(async () => {
  scratch = await createScratchDatabase('gwmask');
  [gw, secrets] = await Promise.all([startGatewayFixture({ scratch: scratch.name }), loadSecrets()]);
});
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

type Outcome = 'masked' | 'refused' | 'error' | 'any';

interface Exchange {
  bytes: Buffer;
  client: WireClient;
  from: number;
}

const clients = new Map<string, WireClient>();
async function client(subject: string, target = 'shop-db'): Promise<WireClient> {
  const key = `${subject}@${target}`;
  const c = clients.get(key);
  if (c && !c.closed) return c;
  const fresh = await WireClient.login(gw.port, await gw.token(subject), target);
  clients.set(key, fresh);
  return fresh;
}

/** Send messages and wait for `readies` more ReadyForQuery; the bytes received in between. */
async function exchange(c: WireClient, msgs: Buffer[], readies = 1): Promise<Exchange> {
  const from = c.frames.length;
  const start = c.received.length;
  const before = c.frames.filter((f) => f.code === 'Z').length;
  c.send(...msgs);
  await c.readyCount(before + readies);
  return { bytes: c.received.subarray(start), client: c, from };
}

function framesOf(e: Exchange) {
  return e.client.frames.slice(e.from);
}

function assertOutcome(e: Exchange, outcome: Outcome): void {
  const frames = framesOf(e);
  const errors = frames.filter((f) => f.code === 'E').map((f) => decodeErrorFields(f.body));
  if (outcome === 'refused') {
    expect(errors.length, 'a refusal').toBeGreaterThan(0);
    expect(errors[0]!.get('C')).toBe('42501');
    expect(errors[0]!.get('M')).toMatch(/^portcullis: /);
  } else if (outcome === 'masked') {
    expect(errors.map((f) => f.get('M'))).toEqual([]);
    expect(
      frames.some((f) => f.code === 'D' || f.code === 'd'),
      'rows arrived',
    ).toBe(true);
  } else if (outcome === 'error') {
    expect(errors.length).toBeGreaterThan(0);
  }
}

function noLeak(bytes: Buffer | string): void {
  const leaked = secrets.leak(bytes);
  expect(leaked, `raw classified value in the client's bytes: ${leaked}`).toBeUndefined();
}

// [sql, expected outcome]. Everything runs as `tester`, which may read every table: masking is the
// only thing standing between the query and the data.
const SIMPLE: Record<string, [string, Outcome][]> = {
  'plain and aliasing': [
    ['SELECT * FROM customers', 'masked'],
    ['SELECT email AS e, ssn AS s, phone AS p, card_number AS c FROM customers', 'masked'],
    ['SELECT c.email FROM customers c', 'masked'],
    ['SELECT x FROM (SELECT email AS x FROM customers) s', 'masked'],
    ['SELECT "email" FROM "public"."customers"', 'masked'],
    ['TABLE customers', 'masked'],
    ['SELECT * FROM ONLY public.customers ORDER BY id', 'masked'],
    ['SELECT * FROM customers ORDER BY email', 'refused'],
    ['SELECT DISTINCT ssn FROM customers', 'masked'],
  ],
  'expressions and casts': [
    ["SELECT email || '' FROM customers", 'refused'],
    ['SELECT upper(email) FROM customers', 'refused'],
    ['SELECT email::varchar(200) FROM customers', 'any'],
    ['SELECT ssn::text FROM customers', 'any'],
    ['SELECT CAST(card_number AS bytea) FROM customers', 'any'],
    ["SELECT replace(ssn, '-', '') FROM customers", 'refused'],
    ['SELECT substr(card_number, 1, 16) FROM customers', 'refused'],
    ['SELECT CASE WHEN true THEN ssn END FROM customers', 'refused'],
    ["SELECT coalesce(phone, 'x') FROM customers", 'refused'],
    ['SELECT min(email), max(ssn) FROM customers', 'refused'],
    ["SELECT string_agg(ssn, ',') FROM customers", 'refused'],
    ['SELECT array_agg(card_number) FROM customers', 'refused'],
    ['SELECT ARRAY[email] FROM customers', 'refused'],
    ['SELECT ROW(email, ssn) FROM customers', 'refused'],
    ["SELECT format('%s', phone) FROM customers", 'refused'],
    ['SELECT to_json(email) FROM customers', 'refused'],
    ['SELECT email COLLATE "C" FROM customers', 'refused'],
    ['SELECT email FROM customers WHERE email::int = 1', 'any'],
    ['SELECT id FROM customers WHERE ssn::int > 0', 'any'],
    ['SELECT id FROM customers WHERE phone::int > 0', 'any'],
    ['SELECT id FROM customers WHERE card_number::int > 0', 'any'],
    ['SELECT id FROM customers WHERE card_number::smallint > 0', 'any'],
    ['SELECT id FROM customers WHERE email::json IS NOT NULL', 'any'],
    ['SELECT id FROM customers WHERE ssn::date IS NOT NULL', 'any'],
    ['SELECT id FROM customers WHERE phone::numeric > 0', 'any'],
    ['SELECT 1 / (length(ssn) - 11) FROM customers', 'any'],
  ],
  'whole-row references': [
    ['SELECT c FROM customers c', 'refused'],
    ['SELECT c.* FROM customers c', 'masked'],
    ['SELECT row_to_json(c) FROM customers c', 'refused'],
    ['SELECT to_jsonb(c) FROM customers c', 'refused'],
    ['SELECT json_agg(c) FROM customers c', 'refused'],
    ['SELECT c::text FROM customers c', 'refused'],
    ['SELECT (c).email FROM customers c', 'any'],
    ['SELECT hstore(c) FROM customers c', 'any'],
    ['SELECT customers FROM customers', 'refused'],
  ],
  'set operations': [
    ['SELECT email FROM customers UNION SELECT name FROM customers', 'refused'],
    ['SELECT name FROM customers UNION ALL SELECT ssn FROM customers', 'refused'],
    ['SELECT email FROM customers INTERSECT SELECT email FROM customers', 'refused'],
    ['SELECT phone FROM customers EXCEPT SELECT name FROM customers', 'refused'],
    ['VALUES ((SELECT email FROM customers LIMIT 1))', 'refused'],
  ],
  'subqueries and CTEs': [
    ['WITH x AS (SELECT email, ssn FROM customers) SELECT * FROM x', 'masked'],
    ['WITH x AS MATERIALIZED (SELECT card_number FROM customers) SELECT * FROM x', 'masked'],
    ['SELECT (SELECT email FROM customers LIMIT 1)', 'refused'],
    ['SELECT id, (SELECT ssn FROM customers c2 WHERE c2.id = c.id) FROM customers c', 'refused'],
    ['SELECT * FROM (SELECT * FROM customers) s', 'masked'],
    ['SELECT s.* FROM orders o, LATERAL (SELECT email FROM customers c WHERE c.id = o.customer_id) s', 'masked'],
    ['WITH RECURSIVE r(e) AS (SELECT email FROM customers UNION SELECT e FROM r) SELECT * FROM r', 'refused'],
    ['SELECT * FROM unnest(ARRAY(SELECT email FROM customers))', 'refused'],
    ['SELECT name FROM customers WHERE id IN (SELECT id FROM customers)', 'masked'],
  ],
  views: [
    ['SELECT * FROM customer_contacts', 'masked'],
    ['SELECT email FROM customer_contacts', 'masked'],
    ['SELECT v FROM customer_contacts v', 'refused'],
    ["SELECT email || '' FROM customer_contacts", 'refused'],
  ],
  functions: [
    ["SELECT query_to_xml('select * from customers', true, true, '')", 'refused'],
    ["SELECT table_to_xml('customers', true, true, '')", 'refused'],
    ['SELECT xmlforest(email) FROM customers', 'refused'],
    ["SELECT pg_notify('leak', email) FROM customers", 'refused'],
    ["SELECT set_config('x.leak', (SELECT email FROM customers LIMIT 1), false)", 'refused'],
    ["SELECT * FROM json_populate_record(null::customers, '{}')", 'any'],
    ['SELECT * FROM customers_by_id(1)', 'any'],
    ["SELECT current_setting('x.leak', true)", 'any'],
  ],
  'system catalogs': [
    ["SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'", 'refused'],
    ['SELECT query FROM pg_stat_activity', 'any'],
  ],
  'multi-statement strings': [
    ['SELECT email FROM customers; SELECT ssn FROM customers', 'masked'],
    ["SELECT 1; SELECT email || '' FROM customers", 'refused'],
    ['SELECT email FROM customers; SELECT upper(ssn) FROM customers', 'refused'],
  ],
  cursors: [
    ['BEGIN; DECLARE c1 CURSOR FOR SELECT * FROM customers; FETCH ALL FROM c1; COMMIT', 'masked'],
    ['BEGIN; DECLARE c2 BINARY CURSOR FOR SELECT email, ssn, card_number FROM customers; FETCH 3 FROM c2; FETCH NEXT FROM c2; COMMIT', 'masked'],
    ['BEGIN; DECLARE c3 SCROLL CURSOR FOR SELECT phone FROM customers; MOVE 5 IN c3; FETCH BACKWARD 2 FROM c3; FETCH ABSOLUTE 1 FROM c3; COMMIT', 'masked'],
    ["BEGIN; DECLARE c4 CURSOR FOR SELECT email || '' FROM customers; FETCH ALL FROM c4; COMMIT", 'refused'],
    ['BEGIN; DECLARE c5 CURSOR WITH HOLD FOR SELECT ssn FROM customers; COMMIT; FETCH ALL FROM c5; CLOSE c5', 'masked'],
  ],
  'copy to stdout': [
    ['COPY customers TO STDOUT', 'refused'],
    ['COPY customers (email, ssn) TO STDOUT WITH (FORMAT csv)', 'refused'],
    ['COPY (SELECT * FROM customers) TO STDOUT', 'refused'],
    ['COPY (SELECT email FROM customer_contacts) TO STDOUT WITH (FORMAT binary)', 'refused'],
    ['COPY customers TO STDOUT WITH (FORMAT binary)', 'refused'],
    ['COPY customers (id, name) TO STDOUT', 'masked'],
  ],
  'sql-level prepared statements': [
    ['PREPARE p1 AS SELECT * FROM customers WHERE id > $1; EXECUTE p1(0); DEALLOCATE p1', 'masked'],
    ["PREPARE p2 AS SELECT email || '' FROM customers; EXECUTE p2", 'refused'],
  ],
};

describe.each(Object.entries(SIMPLE))('%s (simple query)', (_group, cases) => {
  test.each(cases)('%s', async (sql, outcome) => {
    const c = await client('tester');
    const e = await exchange(c, [query(sql)]);
    noLeak(e.bytes);
    assertOutcome(e, outcome);
    // a refusal or error inside BEGIN would leave the session aborted for the next case
    if (framesOf(e).at(-1)?.body[0] !== 73) await exchange(c, [query('ROLLBACK')]);
  });
});

describe('extended protocol without Describe (hand-crafted)', () => {
  const shapes: [string, number[]][] = [
    ['SELECT * FROM customers', [1]],
    ['SELECT * FROM customers', [0]],
    ['SELECT email, ssn, phone, card_number, id FROM customers', [1, 1, 1, 1, 1]],
    ['SELECT email, ssn, phone, card_number, id FROM customers', [0, 1, 0, 1, 0]],
    ['SELECT * FROM customer_contacts', [1]],
    ['WITH x AS (SELECT * FROM customers) SELECT * FROM x', [1]],
  ];
  test.each(shapes)('Parse/Bind(%s, formats %j)/Execute/Sync', async (sql, formats) => {
    const c = await client('tester');
    const e = await exchange(c, [parse('', sql), bind({ resultFormats: formats }), execute('', 0), sync()]);
    noLeak(e.bytes);
    const rows = framesOf(e).filter((f) => f.code === 'D');
    expect(rows.length).toBeGreaterThan(10);
    expect(
      framesOf(e).some((f) => f.code === 'T'),
      'no RowDescription was asked for, none is sent',
    ).toBe(false);
  });

  test('a named statement reused with only Bind/Execute, binary results, pipelined with several Syncs', async () => {
    const c = await client('tester');
    const msgs = [parse('s_all', 'SELECT email, ssn, card_number, phone FROM customers WHERE id > $1', [23]), sync()];
    for (let i = 0; i < 5; i++) msgs.push(bind({ statement: 's_all', portal: '', params: [Buffer.from(String(i))], resultFormats: [i % 2] }), execute('', 0), sync());
    const e = await exchange(c, msgs, 6);
    noLeak(e.bytes);
    expect(framesOf(e).filter((f) => f.code === 'D').length).toBeGreaterThan(20);
    await exchange(c, [closeMsg('S', 's_all'), sync()]);
  });

  test('a portal executed a few rows at a time (PortalSuspended), binary', async () => {
    const c = await client('tester');
    const e = await exchange(
      c,
      [query('BEGIN'), parse('', 'SELECT email, ssn FROM customers'), bind({ portal: 'p', resultFormats: [1] }), execute('p', 2), execute('p', 3), flush(), execute('p', 0), sync(), query('COMMIT')],
      3,
    );
    noLeak(e.bytes);
    const codes = framesOf(e)
      .map((f) => f.code)
      .join('');
    expect(codes).toMatch(/^CZ12DDs3?DDDs?D+CZCZ$|^CZ12DDsDDDsD+CZCZ$/);
  });

  test('Execute of a cursor portal opened by SQL DECLARE is refused', async () => {
    const c = await client('tester');
    const e = await exchange(c, [query('BEGIN; DECLARE cur CURSOR FOR SELECT * FROM customers'), execute('cur', 0), sync(), query('ROLLBACK')], 3);
    noLeak(e.bytes);
    const errs = framesOf(e)
      .filter((f) => f.code === 'E')
      .map((f) => decodeErrorFields(f.body));
    expect(errs[0]?.get('C')).toBe('42501');
  });

  test('binary result values are masked to valid values (rows decode, no raw value)', async () => {
    const c = await client('tester');
    const e = await exchange(c, [parse('', 'SELECT ssn, email FROM customers ORDER BY id LIMIT 3'), bind({ resultFormats: [1] }), execute('', 0), sync()]);
    const rows = framesOf(e)
      .filter((f) => f.code === 'D')
      .map((f) => decodeDataRow(f.body));
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r[1]!.toString()).toMatch(/\*\*\*/);
    noLeak(e.bytes);
  });
});

describe('errors and notices', () => {
  test('writing a classified unique column is refused while masks apply (a violation would confirm a value)', async () => {
    const c = await client('tester', 'scratch-db');
    const e = await exchange(c, [query("INSERT INTO customers (name, email) VALUES ('x', 'ada.lovelace@example.com')")]);
    noLeak(e.bytes);
    assertOutcome(e, 'refused');
  });

  test('on a target with nothing classified, a unique violation quoting an email is scrubbed by the detectors', async () => {
    const c = await client('tester', 'plain-db');
    const e = await exchange(c, [query("INSERT INTO customers (name, email) VALUES ('x', 'ada.lovelace@example.com')")]);
    const err = framesOf(e)
      .filter((f) => f.code === 'E')
      .map((f) => decodeErrorFields(f.body))[0];
    expect(err?.get('C')).toBe('23505');
    expect(err?.get('D')).toMatch(/Key \(email\)=\(\[email\]\) already exists/);
    expect(e.bytes.includes('ada.lovelace@example.com')).toBe(false);
  });

  test('values quoted by type errors are scrubbed (email, SSN, card number)', async () => {
    const c = await client('tester', 'plain-db');
    const e = await exchange(c, [query("SELECT 'ada.lovelace@example.com'::int"), query("SELECT '138-63-8919'::date"), query("SELECT '4111111001047292'::int")], 3);
    const errs = framesOf(e)
      .filter((f) => f.code === 'E')
      .map((f) => decodeErrorFields(f.body).get('M'));
    expect(errs).toHaveLength(3);
    for (const v of ['ada.lovelace@example.com', '138-63-8919', '4111111001047292']) expect(e.bytes.includes(v), v).toBe(false);
  });

  test('notices quoting classified-looking values are scrubbed', async () => {
    const c = await client('root-tester', 'plain-db');
    const e = await exchange(c, [query("DO $$ BEGIN RAISE NOTICE 'mail ada.lovelace@example.com ssn 138-63-8919 card 4111111001047292'; END $$")]);
    const notice = framesOf(e).find((f) => f.code === 'N');
    expect(notice, e.client.describe()).toBeDefined();
    expect(decodeErrorFields(notice!.body).get('M')).toMatch(/\[email\].*\[ssn\].*\[card\]/);
    for (const v of ['ada.lovelace@example.com', '138-63-8919', '4111111001047292']) expect(e.bytes.includes(v), v).toBe(false);
  });

  test('a unique violation through UPDATE copying one classified value onto another row', async () => {
    const c = await client('tester', 'scratch-db');
    const e = await exchange(c, [query('UPDATE customers SET email = (SELECT email FROM customers WHERE id = 2) WHERE id = 1')]);
    noLeak(e.bytes);
    expect(framesOf(e).some((f) => f.code === 'E')).toBe(true);
  });

  test('classified values written into an unclassified column are refused (laundering)', async () => {
    const c = await client('tester', 'scratch-db');
    const e = await exchange(c, [query('UPDATE orders SET status = (SELECT ssn FROM customers c WHERE c.id = orders.customer_id) WHERE id < 5; SELECT status FROM orders WHERE id < 5')]);
    noLeak(e.bytes);
    assertOutcome(e, 'refused');
  });

  test('INSERT ... SELECT of classified values into an unclassified column is refused', async () => {
    const c = await client('tester', 'scratch-db');
    const e = await exchange(c, [query('INSERT INTO products (name, price) SELECT phone, 1 FROM customers; SELECT name FROM products')]);
    noLeak(e.bytes);
    assertOutcome(e, 'refused');
  });

  test('RETURNING of classified columns is refused (mask-safety does not prove it)', async () => {
    const c = await client('tester', 'scratch-db');
    const e = await exchange(c, [query('UPDATE customers SET name = name WHERE id < 4 RETURNING email, ssn, phone, card_number')]);
    noLeak(e.bytes);
    assertOutcome(e, 'refused');
  });

  test('RAISE NOTICE of classified values in a DO block (admin allowed): refused or scrubbed', async () => {
    const c = await client('root-tester');
    const e = await exchange(c, [
      query("DO $$ DECLARE r record; BEGIN FOR r IN SELECT email, ssn, phone, card_number FROM customers LOOP RAISE NOTICE '% % % %', r.email, r.ssn, r.phone, r.card_number; END LOOP; END $$"),
    ]);
    noLeak(e.bytes);
  });

  test('RAISE EXCEPTION quoting a classified value in a DO block: refused or scrubbed', async () => {
    const c = await client('root-tester');
    const e = await exchange(c, [
      query("DO $$ BEGIN RAISE EXCEPTION 'x %', (SELECT phone FROM customers LIMIT 1) USING DETAIL = (SELECT ssn FROM customers LIMIT 1), HINT = (SELECT card_number FROM customers LIMIT 1); END $$"),
    ]);
    noLeak(e.bytes);
  });
});

describe('psql sees nothing either', () => {
  test('a batch of masked, refused and erroring shapes through psql (stdout and stderr)', async () => {
    const sql = Object.values(SIMPLE)
      .flat()
      .map(([s]) => s)
      .filter((s) => !/BEGIN|COPY/.test(s))
      .map((s) => `${s};`)
      .join('\n');
    const r = await psql(await gw.env('tester'), ['-f', '-'], sql);
    noLeak(r.out);
    expect(r.out).toMatch(/\*\*\*/);
    expect(r.out).toMatch(/portcullis: /);
  });

  test('COPY through psql (\\copy and COPY TO STDOUT)', async () => {
    const r = await psql(await gw.env('tester'), ['-c', '\\copy customers to stdout', '-c', 'COPY (SELECT * FROM customer_contacts) TO STDOUT WITH (FORMAT csv)']);
    noLeak(r.out);
  });
});
