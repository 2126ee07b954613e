/**
 * The exploration actions: `tableless` covers a SELECT that reads no relation, `catalog` covers reads
 * of the system catalog that reveal no data values. Statements are analysed by the real parser.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import { analyzeSql } from '../../runtime/sql/analyze.ts';
import { compileBundle } from '../../runtime/bundle/load.ts';
import type { PostgresRequest } from '../../runtime/engine/request.ts';
import { bundleOf, dbTarget, identities, policy } from './helpers.ts';

const explore = policy(
  'p',
  `    - { id: explore, effect: allow, actions: [catalog, tableless] }
    - { id: orders, effect: allow, actions: [select], resources: [orders] }
`,
);
const b = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities, 'p.yaml': explore });

function ask(sql: string, bundle = b): ReturnType<typeof decide> {
  const [a] = analyzeSql(sql);
  const request: PostgresRequest = { protocol: 'postgres', subject: { identity: 'bot', groups: ['agents'] }, target: 'db', at: '2026-11-25T10:00:00Z', statement: a!.statement };
  return decide(bundle, request);
}

describe('exploration actions', () => {
  it.each(['select 1', 'select now()', 'select version()', 'select current_database(), current_user'])('tableless allows %s', (sql) => {
    const d = ask(sql);
    expect(d.effect).toBe('allow');
    expect(d.rules.map((r) => r.rule)).toEqual(['explore']);
  });

  it.each([
    // psql \dt (15)
    `SELECT n.nspname as "Schema", c.relname as "Name", pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
     FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
     WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2`,
    "select table_name from information_schema.columns where table_schema = 'public'",
    'select * from pg_tables',
    'select count(*) from information_schema.tables',
  ])('catalog allows %s', (sql) => {
    expect(ask(sql).effect).toBe('allow');
  });

  it.each([
    ['select * from pg_catalog.pg_stats', 'pg_catalog.pg_stats'],
    ["select most_common_vals from pg_stats where tablename = 'customers'", 'pg_stats'],
    ['select * from pg_catalog.pg_statistic', 'pg_statistic'],
    ['select * from pg_catalog.pg_authid', 'pg_authid'],
    ['select data from pg_largeobject', 'pg_largeobject'],
    ['select query from pg_stat_activity', 'pg_stat_activity'],
    ['select * from pg_settings', 'pg_settings'],
    ['select * from information_schema.user_mapping_options', 'user_mapping_options'],
    ['select relname, lo_get(16400) from pg_catalog.pg_class', 'pg_class'],
    ['select lo_get(16400)', 'select'],
    ["select nextval('orders_id_seq')", 'select'],
    ['select pg_catalog.pg_stat_get_backend_activity(1)', 'select'],
    ['select my_function()', 'select'],
    ['select * from public.pg_class', 'public.pg_class'],
    ['select id from pg_catalog.pg_class c, customers', 'customers'],
  ])('does not cover %s', (sql, named) => {
    const d = ask(sql);
    expect(d.effect).toBe('deny');
    expect(d.reason).toContain(named);
  });

  it('says which action would allow an uncovered exploration', () => {
    const only = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities, 'p.yaml': policy('p', '    - { id: orders, effect: allow, actions: [select], resources: [orders] }\n') });
    expect(ask('select 1', only).reason).toContain('a rule with action tableless would allow it');
    expect(ask('select relname from pg_catalog.pg_class', only).reason).toContain('action catalog');
  });

  it('a deny on select still beats a catalog allow', () => {
    const denied = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy(
        'p',
        `    - { id: explore, effect: allow, actions: [catalog, tableless] }
    - { id: no-catalog, effect: deny, actions: [select], resources: ["pg_catalog.*"] }
`,
      ),
    });
    expect(ask('select relname from pg_catalog.pg_class', denied).effect).toBe('deny');
    expect(ask('select 1', denied).effect).toBe('allow');
  });

  it('a catalog rule with resources narrows it, and nonsense resources are load errors', () => {
    const narrow = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities, 'p.yaml': policy('p', '    - { id: info, effect: allow, actions: [catalog], resources: ["information_schema.*"] }\n') });
    expect(ask('select * from information_schema.tables', narrow).effect).toBe('allow');
    expect(ask('select * from pg_catalog.pg_class', narrow).effect).toBe('deny');
    const bad = compileBundle(
      '/repo',
      [
        { path: 't.yaml', text: dbTarget },
        { path: 'i.yaml', text: identities },
        { path: 'p.yaml', text: policy('p', '    - { id: x, effect: allow, actions: [catalog, tableless], resources: [orders] }\n') },
      ],
      { git: { commit: 'c0ffee0000000000000000000000000000000000', dirty: false } },
    );
    expect(bad.bundle).toBeUndefined();
    const messages = bad.diagnostics.map((d) => d.message).join('\n');
    expect(messages).toContain("action 'tableless' covers statements that read no relation");
    expect(messages).toContain("'orders' never matches it");
  });
});
