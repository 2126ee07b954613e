/**
 * Statements of one literal shape share an analysis (runtime/sql/literal-shape.ts and
 * shape-template.ts). Sharing is only sound where no analysis reads the literal's value, so these
 * tests are differential: whatever analyzeCached returns for a string must be what a fresh parse of
 * that string gives, for the statement the policy sees and for the mask-safety verdict, whichever
 * sibling string primed the cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { analyzeCached, analyzeSql, type AnalyzedStatement } from '../../runtime/sql/analyze.ts';
import { literalShape } from '../../runtime/sql/literal-shape.ts';
import { valueFreeConstants } from '../../runtime/sql/shape-template.ts';
import { checkMaskSafety } from '../../runtime/sql/mask-safety.ts';
import { isObject, nodeOf } from '../../runtime/sql/ast.ts';
import { maskOf, openShop, type ShopFixture } from './fixture.ts';

describe('literalShape', () => {
  it('cuts out unsigned integer literals and keeps everything else', () => {
    const s = literalShape('SELECT abalance FROM pgbench_accounts WHERE aid = 4711;')!;
    expect(s.values).toEqual(['4711']);
    expect(s.key).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = \u0000;');
    expect(literalShape('select * from t where a in (1,22, 333) and b<5')!.values).toEqual(['1', '22', '333', '5']);
  });

  it('takes non-ASCII text inside quotes and comments', () => {
    expect(literalShape('select 1 /* ü */ from t where name = \'José\' and "Straße" = 7')!.values).toEqual(['1', "'José'", '7']);
  });

  it('cuts out plain strings, quotes and all, marked apart from numbers', () => {
    const s = literalShape("select * from t where name = 'it''s 42' and id = 42")!;
    expect(s.values).toEqual(["'it''s 42'", '42']);
    expect(s.key).toBe('select * from t where name = \u0001 and id = \u0000');
  });

  it.each([
    ['identifiers with digits', 'select col1, t2.c3 from t4'],
    ['a parameter', 'select * from t where id = $1'],
    ['a bit string or national string (a letter before the quote)', "select B'0101', X'1f', N'x'"],
    ['a quoted identifier', 'select "42" from t'],
    ['a line comment', 'select a from t -- 42'],
    ['a nested block comment', 'select a /* 1 /* 2 */ 3 */ from t'],
    ['a dollar-quoted string', 'select $q$ 42 $q$, $$7$$'],
    ['a decimal', 'select 1.5, .5, 5.'],
    ['an exponent', 'select 1e3, 2E+4'],
    ['a hexadecimal or underscored number', 'select 0x1f, 1_000'],
    ['a number glued to a name', 'select 1abc'],
  ])('sees no literal in %s', (_what, sql) => {
    expect(literalShape(sql)).toBeUndefined();
  });

  it.each([
    ['a backslash (escape strings, standard_conforming_strings off)', "select 1 from t where a = 'x\\' and b = 2"],
    ['an escape string', "select 1 where 'a' = E'b'"],
    ['a Unicode-escape string', "select 1 where 'a' = U&'b'"],
    ['non-ASCII text outside quotes (part of an identifier to PostgreSQL)', 'select café1 from t where id = 1'],
    ['a control character', "select 1 where name = 'a\u0001b'"],
    ['an unterminated string', "select 1 where a = 'x"],
    ['an unterminated comment', 'select 1 /* x'],
    ['an unterminated dollar quote', 'select 1, $a$ x'],
    ['a lone dollar', 'select 1 $ 2'],
  ])('gives up on %s', (_what, sql) => {
    expect(literalShape(sql)).toBeUndefined();
  });
});

describe('valueFreeConstants', () => {
  /** the literals (as the scanner cuts them) that may vary */
  const free = (sql: string) => {
    const [s] = analyzeSql(sql);
    const at = valueFreeConstants(s!.ast);
    const shape = literalShape(sql)!;
    return shape.values.filter((_, i) => at.has(shape.starts[i]!));
  };
  it('takes constants compared with a plain column', () => {
    expect(free('select a from t where a = 1 and 2 < b and c in (3, 4) and d between 5 and 6')).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(free("select a from t where a = 'x' and b in ('y', 'z')")).toEqual(["'x'", "'y'", "'z'"]);
  });
  it('leaves every other constant fixed', () => {
    expect(free('select a, 1 from t where a + 1 = 2 and f(3) = b and b = -4 and c = 5::int order by 1 limit 6 offset 7')).toEqual([]);
    expect(free('select a::varchar(10), a[1] from t group by 1 having count(*) > 2 fetch first 3 rows only')).toEqual([]);
    expect(free("select set_config('a.b', 'c', false), 'x' from t where a like 'y%' and b > date '2020-01-01' and c = 'z'::text")).toEqual([]);
  });
});

/**
 * Statements with integer literals in every kind of place, many of them against classified columns
 * (customers.ssn, email, card_number), where a value decides what is read: ORDER BY 2 sorts by the
 * second output column, substr(x, 1, 6) is an expression, LIMIT caps rows.
 */
const CORPUS = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = 1;',
  'select id, name, email from customers where id = 1 order by 2',
  'select id, name, email from customers where id = 1 order by 1',
  'select id, ssn, name from customers where id in (1, 2, 3) order by 3 limit 10',
  'select name from customers where id between 1 and 5 group by 1',
  'select distinct on (1) name, email from customers where id > 0',
  'select substr(card_number, 1, 6) from customers where id = 7',
  'select (array[name, ssn])[1] from customers where id = 2',
  'select name from customers where id = 3 offset 1 limit 1',
  'select email from customers where id = 9 and 4 = 4',
  "select name from customers where id = 5 and name <> '15'",
  'select name from customers where id = 5 -- and id = 6',
  'select name /* 7 */ from customers where id = 8',
  'select c.name from customers c join orders o on o.customer_id = c.id where o.id = 10 order by 1',
  'select lpad(name, 12) from customers where id = 3',
  'select name from customers where id = 1 union select email from customers where id = 2',
  'select name from customers order by 1 fetch first 2 rows only',
  'update orders set status = 1 where id = 2',
  'delete from orders where id = 3',
  'insert into orders (id, customer_id) values (100, 1)',
  'select ssn from customers where id = 1 for update',
  'with x as (select id, email from customers where id = 1) select * from x order by 2',
  "select id, email from customers where email = 'ada@example.com'",
  "select id from customers where name in ('Ada', 'Grace') and id > 2 order by 1",
  "select name from customers where ssn = '123-45-6789'",
  "select name, email from customers where name = 'x' order by 2",
  "select set_config('application_name', 'x', false) from customers where id = 1",
  "select name from customers where name like 'A%' and id = 3",
  "select 'x' || name from customers where name = 'y'",
  "select name from customers where created_at > date '2020-01-01' and name = 'z'",
  "select name from customers where name = 'a'\n'b'",
  "select lpad(name, 9, '*') from customers where email <> 'q'",
  "select name from customers where name = '1' and id = '2'",
  "update orders set status = 'shipped' where id = 7",
  "select name from customers where name::text = 'n'",
  "select id from customers where name = 'José' and id = 3 order by 1",
  "select id /* ünïcode */ from customers where name = 'Ĳssel' and email = 'ü@example.com'",
];

function digitsIn(sql: string): number {
  return literalShape(sql)?.values.length ?? 0;
}

/** What may stand in each literal's place: digits for a number, a quoted string for a string. */
function literalsFor(sql: string): fc.Arbitrary<string[]> {
  const digits = fc.oneof(fc.integer({ min: 0, max: 12 }).map(String), fc.bigInt({ min: 0n, max: 10n ** 25n }).map(String), fc.constantFrom('0', '007', '2147483648'));
  const text = fc
    .oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      fc.constantFrom("'", "''", '--', '/*', '*/', '$$', ') or true or (', "x' or 'a'='a", '\\', 'é', 'José', '日本語', '😀', "'é'"),
    )
    .map((v) => `'${v.replace(/'/g, "''")}'`);
  const shape = literalShape(sql)!;
  return fc.tuple(...shape.values.map((v) => (v.startsWith("'") ? text : digits)));
}

/** The string with its i-th literal replaced by values[i]. */
function withValues(sql: string, values: readonly string[]): string {
  const shape = literalShape(sql)!;
  let out = '';
  let at = 0;
  shape.starts.forEach((start, i) => {
    out += sql.slice(at, start) + values[i];
    at = start + shape.values[i]!.length;
  });
  return out + sql.slice(at);
}

/** The AST with the values of value-free constants blanked (they are what may differ). */
function comparable(s: AnalyzedStatement): unknown {
  const free = valueFreeConstants(s.ast);
  const blank = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(blank);
    if (!isObject(v)) return v;
    const c = nodeOf(v, 'A_Const');
    if (c && typeof c['location'] === 'number' && free.has(c['location'])) return { A_Const: { value: '*' } };
    // offsets move when a literal's digits change length
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !/location|_start$|_end$/.test(k))
        .map(([k, x]) => [k, blank(x)]),
    );
  };
  return blank(s.ast);
}

let shop: ShopFixture;
beforeAll(async () => {
  shop = await openShop();
});
afterAll(async () => {
  await shop?.close();
});

describe('analyzeCached across strings of one shape', () => {
  it('skips the parse for the same statement with other numbers in value-free places', () => {
    analyzeCached('select name from customers where id = 101');
    const [s] = analyzeCached('select name from customers where id = 202');
    expect(s!.template?.text).toBe('select name from customers where id = 101');
    expect(s!.text).toBe('select name from customers where id = 202');
    expect(s!.statement.text).toBe('select name from customers where id = 202');
  });

  it('parses again when a value that matters differs (ORDER BY position)', () => {
    analyzeCached('select id, name, email from customers where id = 301 order by 2');
    const [s] = analyzeCached('select id, name, email from customers where id = 302 order by 3');
    expect(s!.template).toBeUndefined();
    expect(checkMaskSafety(s!, shop.catalog, maskOf).ok).toBe(false);
  });

  it('agrees with a fresh parse for every sibling string (property)', () => {
    const corpus = CORPUS.filter((sql) => digitsIn(sql) > 0);
    expect(corpus.length).toBeGreaterThan(15);
    const sample = fc.constantFrom(...corpus).chain((sql) => fc.tuple(fc.constant(sql), literalsFor(sql), literalsFor(sql)));
    let reused = 0;
    fc.assert(
      fc.property(sample, ([sql, first, second]) => {
        const primer = withValues(sql, first);
        const probe = withValues(sql, second);
        let fresh: AnalyzedStatement[];
        try {
          fresh = analyzeSql(probe);
        } catch {
          // PostgreSQL would refuse it too; the cache must not have vouched for it
          try {
            analyzeCached(primer);
          } catch {
            return;
          }
          const cached = (() => {
            try {
              return analyzeCached(probe);
            } catch {
              return undefined;
            }
          })();
          expect(cached?.[0]?.template, `a template vouched for unparsable ${probe}`).toBeUndefined();
          return;
        }
        try {
          analyzeCached(primer);
        } catch {
          // a primer that does not parse makes no template
        }
        const cached = analyzeCached(probe);
        if (cached[0]?.template) reused++;
        expect(cached.map((s) => s.statement)).toEqual(fresh.map((s) => s.statement));
        expect(cached.map((s) => [s.text, s.offset])).toEqual(fresh.map((s) => [s.text, s.offset]));
        expect(cached.map(comparable)).toEqual(fresh.map(comparable));
        expect(cached.map((s) => checkMaskSafety(s, shop.catalog, maskOf))).toEqual(fresh.map((s) => checkMaskSafety(s, shop.catalog, maskOf)));
      }),
      { numRuns: 1000, seed: 20261125 },
    );
    // the property is only worth something if the shared path was taken
    expect(reused).toBeGreaterThan(200);
  });
});
