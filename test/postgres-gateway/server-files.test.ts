/**
 * Functions that read server files or relation storage are refused while masks apply, whatever the
 * policy allows: with `admin` allowed and a superuser backend role (the harness's), the heap file of
 * `customers` would otherwise come back with every classified value in clear.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import pg from 'pg';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { loadSecrets, type Secrets } from './secrets.ts';

let gw: GatewayFixture;
let secrets: Secrets;

beforeAll(async () => {
  [gw, secrets] = await Promise.all([startGatewayFixture(), loadSecrets()]);
});
afterAll(async () => {
  await gw?.close();
});

test.each([
  `select pg_read_binary_file(pg_relation_filepath('customers'))`,
  `select encode(pg_read_binary_file(pg_relation_filepath('customers')), 'escape')`,
  `select pg_relation_filepath('customers')`,
  `select * from pg_ls_dir('.')`,
  `select pg_stat_file('PG_VERSION')`,
  `select pg_read_file('postgresql.conf')`,
  `select lo_import('/etc/hostname')`,
])('%s is refused on a target with masks, even for a subject allowed admin', async (sql) => {
  const c = new pg.Client(await gw.conn('root-tester'));
  c.on('error', () => {});
  await c.connect();
  try {
    const out = await c.query(sql).then(
      (r) => JSON.stringify(r.rows),
      (e: Error) => `ERROR ${e.message}`,
    );
    expect(secrets.leak(out)).toBeUndefined();
    expect(out).toMatch(/^ERROR .*(server files|relation storage)/);
  } finally {
    await c.end();
  }
});

test('without masks on the target, admin may still use them', async () => {
  const c = new pg.Client(await gw.conn('root-tester', 'plain-db'));
  await c.connect();
  try {
    const r = await c.query(`select (pg_stat_file('PG_VERSION')).size > 0 as ok`);
    expect(r.rows).toEqual([{ ok: true }]);
  } finally {
    await c.end();
  }
});
