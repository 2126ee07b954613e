/**
 * THE ADVERSARIAL MASKING SUITE. Every query here tries to get customers.ssn / customers.email /
 * customers.card_number out in clear text. Each one is either refused by checkMaskSafety, or run
 * against the real PostgreSQL to prove every result column that carries a classified value has an
 * origin the gateway masks (outputMasks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql } from '../../runtime/sql/analyze.ts';
import { checkMaskSafety, type MaskSafety, type OutputMask } from '../../runtime/sql/mask-safety.ts';
import { maskOf, openShop, type ShopFixture } from './fixture.ts';

let shop: ShopFixture;
beforeAll(async () => {
  shop = await openShop();
});
afterAll(async () => {
  await shop?.close();
});

function check(sql: string): MaskSafety[] {
  return analyzeSql(sql).map((s) => checkMaskSafety(s, shop.catalog, maskOf));
}

function refusal(sql: string): string {
  const results = check(sql);
  const bad = results.find((r) => !r.ok);
  if (!bad || bad.ok) throw new Error(`expected a refusal for: ${sql}\n got ${JSON.stringify(results)}`);
  return bad.reason;
}

/** Run sql in a transaction that is rolled back; return result columns holding a secret, with origins. */
async function leakingColumns(sql: string, masks: readonly OutputMask[]): Promise<string[]> {
  await shop.client.query('begin');
  try {
    const result = await shop.client.query({ text: sql, rowMode: 'array' });
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    const masked = new Set(masks.map((m) => `${m.tableOid}:${m.attnum}`));
    const leaks: string[] = [];
    last.fields.forEach((f: { name: string; tableID: number; columnID: number }, i: number) => {
      const carries = (last.rows as unknown[][]).some((row) => shop.secrets.has(String(row[i])));
      if (carries && !masked.has(`${f.tableID}:${f.columnID}`)) leaks.push(`${f.name} (origin ${f.tableID}:${f.columnID})`);
    });
    return leaks;
  } finally {
    await shop.client.query('rollback');
  }
}

const REFUSED: Array<[shape: string, sql: string, reason: RegExp]> = [
  // expressions and casts
  ['function call', 'select upper(ssn) from customers', /customers\.ssn is classified \(pii\) and flows into an expression \(upper\(\.\.\.\)\)/],
  ['cast', 'select ssn::int from customers', /a cast to int/],
  ['cast to text via CAST()', 'select cast(email as varchar) from customers', /customers\.email.*cast/],
  ['concatenation', "select 'x' || ssn from customers", /operator \|\|/],
  ['CASE', "select case when ssn like '1%' then 1 end from customers", /CASE/],
  ['COALESCE', 'select coalesce(ssn, email) from customers', /COALESCE/],
  ['COLLATE', 'select ssn collate "C" from customers', /COLLATE/],
  ['aggregate', "select string_agg(ssn, ',') from customers", /string_agg/],
  ['count distinct', 'select count(distinct ssn) from customers', /count/],
  ['substring', 'select substr(card_number, 1, 6) from customers', /card_number.*substr/],
  ['array', 'select array[ssn] from customers', /ARRAY/],
  ['row constructor', 'select row(ssn) from customers', /ROW/],
  ['json build', "select json_build_object('s', ssn) from customers", /json_build_object/],
  ['window over masked', 'select id, row_number() over (order by ssn) from customers', /ssn/],
  ['scalar subquery', 'select (select ssn from customers limit 1)', /subquery/],
  ['ARRAY subquery', 'select array(select email from customers)', /subquery/],
  // whole-row references
  ['whole row', 'select c from customers c', /whole row \(c\)/],
  ['row_to_json', 'select row_to_json(c) from customers c', /whole row/],
  ['to_jsonb', 'select to_jsonb(c) from customers c', /whole row/],
  ['row cast to text', 'select c::text from customers c', /whole row/],
  ['star in function', 'select row_to_json(c.*) from customers c', /whole row/],
  ['field of whole row', 'select (c).ssn from customers c', /whole row/],
  ['whole row through subquery', 'select s from (select * from customers) s', /whole row/],
  // set operations
  ['UNION', 'select ssn from customers union select email from customers', /flows into UNION/],
  ['UNION ALL with constant', "select ssn from customers union all select 'x'", /UNION/],
  ['INTERSECT oracle', "select ssn from customers intersect select '138-63-8919'", /INTERSECT/],
  ['EXCEPT', 'select email from customers except select null', /EXCEPT/],
  ['set op in subquery', 'select s from (select ssn as s from customers union select null) q', /UNION/],
  ['recursive CTE', 'with recursive t(s) as (select ssn from customers union all select s from t where false) select s from t', /UNION/],
  // oracles: filters, joins, ordering, grouping
  ['WHERE', "select id from customers where ssn = '138-63-8919'", /used in WHERE/],
  ['WHERE LIKE', "select id from customers where email like 'ada%'", /email.*WHERE/],
  ['WHERE via alias', "select c.id from customers c where c.ssn > '5'", /WHERE/],
  ['WHERE via subquery column', "select id from (select id, ssn as x from customers) s where x like '1%'", /WHERE/],
  ['WHERE via CTE', "with t as (select id, ssn from customers) select id from t where ssn like '1%'", /WHERE/],
  ['WHERE via view', "select id from passthrough where tax_id like '1%'", /WHERE/],
  ['EXISTS oracle', "select 1 where exists (select 1 from customers where ssn like '1%')", /WHERE/],
  ['IN oracle', "select id from orders where customer_id in (select id from customers where email like 'a%')", /WHERE/],
  ['IN over masked output', "select 1 where '138-63-8919' in (select ssn from customers)", /WHERE/],
  ['JOIN ON', 'select o.id from orders o join customers c on c.ssn = o.status', /JOIN condition/],
  ['JOIN USING', 'select 1 from customers join customer_contacts using (email)', /USING|JOIN/],
  ['NATURAL JOIN', 'select 1 from customers natural join customer_contacts', /NATURAL JOIN/],
  ['ORDER BY', 'select id from customers order by ssn', /ORDER BY/],
  ['ORDER BY position', 'select ssn from customers order by 1', /ORDER BY/],
  ['ORDER BY output alias', 'select ssn as x from customers order by x', /ORDER BY/],
  ['GROUP BY', 'select count(*) from customers group by ssn', /GROUP BY/],
  ['HAVING', "select id from customers group by id having max(ssn) > '5'", /HAVING/],
  ['DISTINCT ON', 'select distinct on (email) id from customers', /DISTINCT ON/],
  ['LIMIT', 'select id from customers limit (select length(ssn) from customers limit 1)', /LIMIT|length/],
  ['lateral function arg', 'select * from customers c, lateral upper(c.ssn) u', /upper/],
  ['generate_series arg', 'select * from customers c, generate_series(1, length(c.ssn)) g', /generate_series|length/],
  // ambiguous/unknown names fail closed
  ['ambiguous unqualified name', "select 1 from customers a, customers b where ssn = 'x'", /WHERE/],
  // views
  ['view column computed from masked', 'select ussn from leaky_upper', /computed from/],
  ['view star with computed column', 'select * from leaky_upper', /computed from/],
  ['view filtering on masked column', 'select * from filtered', /view public\.filtered cannot be proven safe/],
  ['expression over view pass-through', 'select lower(tax_id) from passthrough', /lower/],
  ['expression over nested view', "select tax_id || '' from nested_view", /\|\|/],
  ['materialized view copy', 'select upper(email) from contacts_mv', /upper/],
  // functions
  ['user-defined function', 'select leak_ssn(1)', /leak_ssn, a user-defined function/],
  ['harmless-looking UDF', 'select add1(id) from orders', /add1/],
  ['user-defined operator', "select id from orders where status === 'x'", /operator ===/],
  ['query_to_xml', "select query_to_xml('select ssn from customers', true, true, '')", /query_to_xml/],
  ['table_to_xml', "select table_to_xml('customers', true, true, '')", /table_to_xml/],
  ['pg_stats', "select most_common_vals from pg_stats where tablename = 'customers'", /pg_stats/],
  ['DO block', 'do $$ begin perform ssn from customers; end $$', /DO/],
  ['CREATE FUNCTION', "create function f() returns text language sql as 'select ssn from customers limit 1'", /CREATE FUNCTION/],
  // writes that copy or probe classified values
  ['INSERT ... SELECT', 'insert into orders(customer_id, total, status) select id, 1, ssn from customers', /INSERT \.\.\. SELECT/],
  ['UPDATE SET from masked', 'update customers set name = ssn', /UPDATE \.\.\. SET/],
  ['UPDATE WHERE oracle', "update customers set name = name where ssn like '1%'", /WHERE/],
  ['DELETE WHERE oracle', "delete from orders where customer_id in (select id from customers where ssn like '1%')", /WHERE/],
  ['RETURNING', 'update customers set name = name where id = 1 returning ssn', /RETURNING/],
  ['RETURNING *', 'update customers set name = name where id = 1 returning *', /RETURNING/],
  ['RETURNING whole row', 'delete from customers c where id = -1 returning c', /RETURNING|whole row/],
  ['data-modifying CTE', 'with u as (update customers set name = name where id = 1 returning ssn) select * from u', /RETURNING/],
  ['unique oracle', "insert into customers(name, email) values ('x', 'ada.lovelace@example.com')", /unique/],
  ['MERGE ON masked', 'merge into orders o using customers c on c.ssn = o.status when matched then do nothing', /MERGE/],
  ['CREATE TABLE AS', 'create table leak as select ssn from customers', /CREATE TABLE AS/],
  ['SELECT INTO', 'select ssn into leak from customers', /SELECT INTO/],
  ['CREATE VIEW', 'create view v2 as select email from customers', /CREATE VIEW/],
  ['CHECK constraint oracle', "alter table customers add constraint probe check (ssn not like '1%')", /schema expression/],
  // COPY
  ['COPY table', 'copy customers to stdout', /COPY customers TO would send customers\.email/],
  ['COPY table with listed masked column', 'copy customers (id, ssn) to stdout', /ssn/],
  ['COPY (query)', 'copy (select ssn from customers) to stdout', /COPY \(query\)/],
  ['COPY view-like query', 'copy (select * from passthrough) to stdout', /COPY/],
  // cursors and prepared statements: the inner statement is checked
  ['DECLARE expression', 'declare c cursor for select upper(ssn) from customers', /upper/],
  ['PREPARE expression', 'prepare p as select md5(ssn) from customers', /md5/],
  ['PREPARE oracle', 'prepare p(text) as select id from customers where ssn = $1', /WHERE/],
  ['EXPLAIN ANALYZE oracle', "explain analyze select id from customers where ssn = 'x'", /WHERE/],
  ['EXECUTE parameter', 'execute p((select ssn from customers limit 1))', /subquery/],
  // multi-statement strings: every statement is checked
  ['multi-statement', 'select id from customers; select upper(email) from customers', /upper/],
];

describe('refused shapes', () => {
  it.each(REFUSED)('%s: %s', (_shape, sql, reason) => {
    expect(refusal(sql)).toMatch(reason);
  });
});

const ALLOWED: Array<[shape: string, sql: string]> = [
  ['plain column', 'select ssn from customers'],
  ['alias', 'select c.ssn as x, c.email as y from customers c'],
  ['star', 'select * from customers'],
  ['qualified star', 'select c.* from customers c join orders o on o.customer_id = c.id'],
  ['TABLE', 'table customers'],
  ['parenthesised', 'select (ssn) from customers'],
  ['subquery pass-through', 'select x from (select ssn as x from customers) s'],
  ['subquery star', 'select * from (select * from customers) q'],
  ['CTE pass-through', 'with t as (select ssn, email from customers) select ssn, email from t'],
  ['materialized CTE', 'with t as materialized (select ssn from customers) select * from t'],
  ['nested CTE and subquery', 'with t as (select * from (select id, card_number from customers) s) select card_number from t'],
  ['LATERAL pass-through', 'select s.ssn from customers c, lateral (select c.ssn) s'],
  ['view pass-through', 'select * from customer_contacts'],
  ['renamed view column', 'select tax_id from passthrough'],
  ['nested view', 'select * from nested_view'],
  ['materialized view', 'select * from contacts_mv'],
  ['DISTINCT', 'select distinct ssn from customers'],
  ['filter on unclassified column', "select ssn from customers where id = 1 and name like 'A%'"],
  ['join on unclassified columns', 'select c.email, o.total from customers c join orders o on o.customer_id = c.id'],
  ['EXISTS with clean filter', 'select email from customers c where exists (select 1 from orders o where o.customer_id = c.id)'],
  ['COPY of unclassified columns', 'copy customers (id, name) to stdout'],
  ['UPDATE of unclassified column', "update customers set name = 'x' where id = 1"],
  ['write a classified non-unique column', "update customers set ssn = '000-00-0000' where id = 1"],
];

describe('allowed shapes mask every classified value (checked against PostgreSQL)', () => {
  it.each(ALLOWED)('%s: %s', async (_shape, sql) => {
    const results = check(sql);
    expect(
      results.every((r) => r.ok),
      JSON.stringify(results),
    ).toBe(true);
    if (sql.startsWith('copy') || sql.startsWith('update')) return;
    const masks = results.flatMap((r) => (r.ok ? (r.outputMasks ?? []) : []));
    expect(await leakingColumns(sql, masks)).toEqual([]);
  });
});

describe('session state: cursors and prepared statements report the same origins', () => {
  it('FETCH from a cursor declared over a checked query carries base-table origins', async () => {
    const [declare] = analyzeSql('declare cur cursor for select id, ssn, email from customers');
    const verdict = checkMaskSafety(declare!, shop.catalog, maskOf);
    expect(verdict.ok).toBe(true);
    const masks = verdict.ok ? (verdict.outputMasks ?? []) : [];
    await shop.client.query('begin');
    try {
      await shop.client.query('declare cur cursor for select id, ssn, email from customers');
      const r = await shop.client.query({ text: 'fetch all from cur', rowMode: 'array' });
      const masked = new Set(masks.map((m) => `${m.tableOid}:${m.attnum}`));
      expect(r.fields.map((f) => masked.has(`${f.tableID}:${f.columnID}`))).toEqual([false, true, true]);
    } finally {
      await shop.client.query('rollback');
    }
  });

  it('EXECUTE of a prepared statement carries base-table origins', async () => {
    const [prepare] = analyzeSql('prepare pp as select ssn from customers');
    expect(prepare!.defines).toEqual({ prepared: 'pp' });
    const verdict = checkMaskSafety(prepare!, shop.catalog, maskOf);
    expect(verdict.ok).toBe(true);
    await shop.client.query('prepare pp as select ssn from customers');
    try {
      expect(await leakingColumns('execute pp', verdict.ok ? (verdict.outputMasks ?? []) : [])).toEqual([]);
    } finally {
      await shop.client.query('deallocate pp');
    }
  });

  it('EXECUTE and FETCH are marked for the gateway to resolve', () => {
    const [exec, fetch, move] = analyzeSql('execute pp; fetch 10 from cur; move next in cur');
    expect(exec!.refersTo).toEqual({ prepared: 'pp' });
    expect(fetch!.refersTo).toEqual({ cursor: 'cur' });
    expect(move!.refersTo).toEqual({ cursor: 'cur' });
  });
});

describe('PostgreSQL origin facts this analysis relies on', () => {
  async function origins(sql: string): Promise<string[]> {
    const r = await shop.client.query({ text: sql, rowMode: 'array' });
    return r.fields.map((f) => `${shop.catalog.relationByOid(f.tableID)?.name ?? f.tableID}.${f.columnID}`);
  }
  it('reports the base column through subqueries and CTEs, the view for view columns, 0 for set operations', async () => {
    expect(await origins('select x from (select ssn as x from customers) s')).toEqual(['customers.4']);
    expect(await origins('with t as materialized (select ssn from customers) select ssn from t')).toEqual(['customers.4']);
    expect(await origins('select email from customer_contacts')).toEqual(['customer_contacts.3']);
    expect(await origins('select ssn from customers union all select ssn from customers')).toEqual(['0.0']);
    expect(await origins('select (select ssn from customers limit 1)')).toEqual(['0.0']);
    expect(await origins('select c from customers c')).toEqual(['customers.0']);
    expect(await origins('select ssn collate "C" from customers')).toEqual(['0.0']);
  });
});

describe('no masks, no analysis', () => {
  it('lets anything through when no mask applies on the target', () => {
    const [s] = analyzeSql('select upper(ssn) from customers union select leak_ssn(1)');
    expect(checkMaskSafety(s!, shop.catalog, () => undefined)).toEqual({ ok: true });
  });
});
