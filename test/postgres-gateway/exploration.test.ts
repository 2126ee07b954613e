/**
 * A new user's first psql session as the support agent, through the wire: health checks and schema
 * browsing work (the example's `agents-baseline/explore` rule), a select of customers arrives masked,
 * and catalog objects that carry data values (pg_stats on a classified column) stay refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';

let gw: GatewayFixture;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  gw = await startGatewayFixture();
  env = await gw.env('support-agent');
}, 60_000);
afterAll(async () => gw?.close());

describe('exploring as the support agent (psql)', () => {
  it('select 1, now() and version() answer', async () => {
    const r = await psql(env, ['-c', 'select 1 as one', '-c', 'select now() is not null as ok', '-c', 'select version()']);
    expect(r.stderr).not.toContain('ERROR');
    expect(r.stdout).toMatch(/one\s*\n-+\s*\n\s*1/);
    expect(r.stdout).toContain('PostgreSQL');
  });

  it('\\dt lists the tables and \\d customers describes one', async () => {
    const dt = await psql(env, ['-c', '\\dt']);
    expect(dt.stderr).not.toContain('ERROR');
    expect(dt.stdout).toMatch(/public\s*\|\s*customers\s*\|\s*table/);
    expect(dt.stdout).toMatch(/public\s*\|\s*orders\s*\|\s*table/);
    const d = await psql(env, ['-c', '\\d customers']);
    expect(d.stderr).not.toContain('ERROR');
    expect(d.stdout).toContain('Table "public.customers"');
    expect(d.stdout).toMatch(/ssn\s*\|/);
  }, 30_000);

  it('information_schema answers', async () => {
    const r = await psql(env, ['-At', '-c', "select column_name from information_schema.columns where table_name = 'customers' order by ordinal_position"]);
    expect(r.stderr).not.toContain('ERROR');
    expect(r.stdout).toContain('email');
  });

  it('a select of customers still arrives masked', async () => {
    const r = await psql(env, ['-At', '-c', 'select email, ssn from customers order by id limit 1']);
    expect(r.stderr).not.toContain('ERROR');
    expect(r.stdout.trim()).toMatch(/^\w\*\*\*@example\.com\|\*\*\*$/);
  });

  it('pg_stats on a classified column, large objects and other sessions stay refused', async () => {
    const stats = await psql(env, ['-c', "select most_common_vals from pg_stats where tablename = 'customers' and attname = 'ssn'"]);
    expect(stats.stderr).toContain('ERROR:  portcullis:');
    expect(stats.stderr).toContain('pg_stats');
    const qualified = await psql(env, ['-c', "select histogram_bounds from pg_catalog.pg_stats where attname = 'email'"]);
    expect(qualified.stderr).toContain('ERROR:  portcullis:');
    const lo = await psql(env, ['-c', 'select relname, lo_get(1) from pg_catalog.pg_class limit 1']);
    expect(lo.stderr).toContain('ERROR:  portcullis:');
    const activity = await psql(env, ['-c', 'select query from pg_stat_activity']);
    expect(activity.stderr).toContain('ERROR:  portcullis:');
  });
});
