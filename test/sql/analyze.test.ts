/** Statement → class / relations / columns / functions, as the decision engine sees it. */
import { describe, expect, it } from 'vitest';
import { analyzeCached, analyzeSql } from '../../runtime/sql/analyze.ts';
import { PortcullisError } from '../../runtime/errors.ts';

type Rel = string; // "name" or "schema.name", suffixed ":w" for writes
const rels = (sql: string): Rel[] =>
  analyzeSql(sql)[0]!
    .statement.relations.map((r) => `${r.schema ? `${r.schema}.` : ''}${r.name}${r.access === 'write' ? ':w' : ''}`)
    .sort();

const CLASSES: Array<[sql: string, cls: string, relations: Rel[]]> = [
  ['select * from customers', 'select', ['customers']],
  ['select * from public.customers c join orders o on o.customer_id = c.id', 'select', ['orders', 'public.customers']],
  ['with t as (select * from orders) select * from t', 'select', ['orders']],
  ['with customers as (select * from customers) select * from customers', 'select', ['customers']],
  ['select 1 where exists (select 1 from a) union select 2 from b', 'select', ['a', 'b']],
  ['select * from x, lateral (select * from y where y.id = x.id) z', 'select', ['x', 'y']],
  ['select f((select max(id) from hidden))', 'select', ['hidden']],
  ['select * into t2 from t', 'ddl', ['t', 't2:w']],
  ['insert into t(a) select a from s', 'insert', ['s', 't:w']],
  ['update t set a = 1 from s where s.id = t.id', 'update', ['s', 't:w']],
  ['delete from t using s where s.id = t.id', 'delete', ['s', 't:w']],
  ['merge into t using s on s.id = t.id when matched then delete', 'insert', ['s', 't:w']],
  ['with d as (delete from orders returning *) select * from d', 'delete', ['orders:w']],
  ['copy t to stdout', 'copy', ['t']],
  ['copy t from stdin', 'copy', ['t:w']],
  ['copy (select * from t) to stdout', 'copy', ['t']],
  ["copy t to '/tmp/x'", 'admin', ['t']],
  ["copy t from program 'id'", 'admin', ['t:w']],
  ['truncate a, b', 'ddl', ['a:w', 'b:w']],
  ['create table n (id int)', 'ddl', ['n:w']],
  ['alter table t add column c int', 'ddl', ['t:w']],
  ['drop table s.t, u', 'ddl', ['s.t:w', 'u:w']],
  ['create table n as select * from t', 'ddl', ['n:w', 't']],
  ["comment on table t is 'x'", 'ddl', []],
  ['grant select on t to bob', 'admin', ['t:w']],
  ['vacuum t', 'admin', ['t:w']],
  ['analyze t', 'admin', ['t:w']],
  ['checkpoint', 'admin', []],
  ['alter system set work_mem = 1', 'admin', []],
  ['do $$ begin end $$', 'admin', []],
  ['call p()', 'admin', []],
  ["load 'x'", 'admin', []],
  ['set role bob', 'admin', []],
  ['set session authorization bob', 'admin', []],
  ['reset role', 'admin', []],
  ['set search_path = x', 'admin', []],
  ['set statement_timeout = 0', 'admin', []],
  ['reset all', 'admin', []],
  ['discard all', 'admin', []],
  ['begin', 'transaction', []],
  ['commit', 'transaction', []],
  ['savepoint s', 'transaction', []],
  ['set transaction read write', 'transaction', []],
  ['set application_name = x', 'session', []],
  ['show work_mem', 'session', []],
  ['discard plans', 'session', []],
  ['deallocate p', 'session', []],
  ['listen c', 'session', []],
  ["notify c, 'x'", 'session', []],
  ['prepare p as delete from t where id = $1', 'delete', ['t:w']],
  ['explain select * from t', 'select', ['t']],
  ['explain analyze delete from t', 'delete', ['t:w']],
  ['declare c cursor for select * from t', 'select', ['t']],
  ['select pg_terminate_backend(1)', 'admin', []],
  ["select set_config('role', 'x', false)", 'admin', []],
  ["select pg_read_file('/etc/passwd')", 'admin', []],
  ["select * from dblink('x', 'y') as t(a int)", 'admin', []],
  ["select query_to_xml('select 1', true, true, '')", 'admin', []],
  ['select pg_sleep(10)', 'admin', []],
  ["select lo_import('/etc/passwd')", 'admin', []],
];

describe('classes and relations', () => {
  it.each(CLASSES)('%s → %s', (sql, cls, relations) => {
    expect(analyzeSql(sql)[0]!.statement.class).toBe(cls);
    expect(rels(sql)).toEqual([...relations].sort());
  });
});

describe('details', () => {
  it("splits multi-statement strings into each statement's own text", () => {
    const s = analyzeSql("select 'é' ; update t set a = 1 where id = 2;  delete from t");
    expect(s.map((x) => x.text)).toEqual(["select 'é'", 'update t set a = 1 where id = 2', 'delete from t']);
    expect(s.map((x) => x.statement.hasWhere)).toEqual([true, true, false]);
  });
  it('qualifies columns by relation through aliases', () => {
    const [s] = analyzeSql('select c.ssn, o.total from customers c join orders o on o.customer_id = c.id');
    expect(s!.statement.columns).toEqual(
      expect.arrayContaining([
        { relation: 'customers', column: 'ssn' },
        { relation: 'orders', column: 'total' },
        { relation: 'orders', column: 'customer_id' },
      ]),
    );
    expect(analyzeSql('select ssn from customers')[0]!.statement.columns).toEqual([{ relation: 'customers', column: 'ssn' }]);
  });
  it('lists functions called', () => {
    expect(analyzeSql('select lower(name), pg_catalog.upper(x) from t')[0]!.statement.functions).toEqual(['lower', 'pg_catalog.upper']);
  });
  it('MERGE is insert, update and delete; ON CONFLICT DO UPDATE adds update', () => {
    expect(analyzeSql('merge into t using s on true when matched then delete')[0]!.statement.actions).toEqual(['insert', 'update', 'delete']);
    expect(analyzeSql('insert into t values (1) on conflict (id) do update set a = 2')[0]!.statement.actions).toEqual(['insert', 'update']);
  });
  it('describes COPY and session references', () => {
    expect(analyzeSql('copy t (a, b) to stdout')[0]!.copy).toEqual({ direction: 'to', source: 'relation', endpoint: 'stdio', columns: ['a', 'b'] });
    expect(analyzeSql('execute p(1)')[0]!.refersTo).toEqual({ prepared: 'p' });
    expect(analyzeSql('close c')[0]!.refersTo).toEqual({ cursor: 'c' });
    expect(analyzeSql('explain analyze select 1')[0]!.executes).toBe(true);
    expect(analyzeSql('explain select 1')[0]!.executes).toBe(false);
  });
  it('an UPDATE without WHERE inside a CTE makes the statement unbounded', () => {
    expect(analyzeSql('with u as (update t set a = 1 returning 1) select * from u')[0]!.statement.hasWhere).toBe(false);
  });
  it('reports parse errors with the position', () => {
    try {
      analyzeSql('select 1; selec 2');
      throw new Error('no error');
    } catch (error) {
      expect(PortcullisError.is(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toBe('cannot parse SQL: syntax error at or near "selec" at position 11');
    }
  });
  it('caches by text', () => {
    expect(analyzeCached('select 42')).toBe(analyzeCached('select 42'));
  });
});
