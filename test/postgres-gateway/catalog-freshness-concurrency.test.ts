/**
 * "No decision on stale knowledge" for statements decided from a cached verdict, while other
 * sessions keep the catalog checks busy. A DBA swaps a classified table in under the name of a
 * harmless one and commits; the very next statement of an agent, one the gateway has decided
 * before, must be decided on the swapped catalog: `upper(c)` of what is now a classified column has
 * no column origin to mask by, so a decision on the old catalog would hand the raw value out.
 *
 * Both ways the gateway proves the catalog current are covered: the guard sent with the statement
 * (autocommit), and the check on the catalog connection (inside a transaction), which must not
 * reuse a check that started before the statement arrived. The gateway reaches PostgreSQL through
 * a proxy that slows its catalog connection down, so a check that read the catalog before the swap
 * is nearly always still in flight when the statement arrives: reusing it would be seen.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { pgClient, pgInfo } from '../harness/postgres.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';

const DB = `freshc_${randomBytes(4).toString('hex')}`;
const PASSWORD_ENV = 'PORTCULLIS_TEST_SHOP_DB_PASSWORD';
const ROUNDS = 6;
/** on the answers of the gateway's catalog connection only */
const CATALOG_DELAY_MS = 50;

/**
 * A TCP proxy to the test PostgreSQL that holds back every answer on the connection whose startup
 * message names application_name portcullis-catalog (the gateway's catalog connection): its checks
 * run in PostgreSQL at once, and their answers arrive late.
 */
async function delayingProxy(port: number): Promise<{ port: number; server: Server }> {
  const server = createServer((client: Socket) => {
    const upstream = connect(port, pgInfo().host);
    let delay: number | undefined;
    client.on('data', (chunk: Buffer) => {
      // decided on the startup message (an 8-byte SSLRequest may come first, which the server declines)
      if (delay === undefined && chunk.length !== 8) delay = chunk.includes('portcullis-catalog') ? CATALOG_DELAY_MS : 0;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!delay) client.write(chunk);
      else setTimeout(() => client.destroyed || client.write(chunk), delay);
    });
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}
let proxy: { port: number; server: Server };

function files(): Record<string, string> {
  const info = { ...pgInfo(), host: '127.0.0.1', port: proxy.port };
  return {
    'targets/freshc-db.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: freshc-db }
spec:
  type: postgres
  host: ${info.host}
  port: ${info.port}
  database: ${DB}
  user: ${info.user}
  password: { env: ${PASSWORD_ENV} }
  classification:
    - name: government-id
      columns: ["vault*.ssn"]
      strategy: redact
`,
    'policies/freshc.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: freshc-readers }
spec:
  subjects: [{ group: testers }]
  targets: [freshc-db]
  rules:
    - id: read
      effect: allow
      actions: [select, transaction, session]
      resources: ["*"]
`,
  };
}

let gw: GatewayFixture;
let dba: pg.Client;
const secrets: string[] = [];

async function agent(): Promise<pg.Client> {
  const c = new pg.Client(await gw.conn('tester', 'freshc-db'));
  c.on('error', () => {});
  await c.connect();
  return c;
}

const SIMPLE = 'select upper(c) as u from decoy';
const EXTENDED = 'select upper(c) as u from decoy where $1::int = 1';
/** what the other sessions run: a table the swap does not lock, so they keep running through it */
const NOISE = 'select upper(c) as u from other';

/** rows or the error, as text; a secret in it is a leak */
async function answer(run: () => Promise<pg.QueryResult>): Promise<string> {
  return run().then(
    (r) => JSON.stringify(r.rows),
    (e: Error) => `ERROR ${e.message}`,
  );
}

beforeAll(async () => {
  const admin = await pgClient(pgInfo().database);
  try {
    await admin.query(`CREATE DATABASE ${DB}`);
  } finally {
    await admin.end();
  }
  dba = await pgClient(DB);
  await dba.query(`create table decoy (c text)`);
  await dba.query(`insert into decoy values ('harmless')`);
  await dba.query(`create table other (c text)`);
  await dba.query(`insert into other values ('harmless')`);
  proxy = await delayingProxy(pgInfo().port);
  gw = await startGatewayFixture({ files: files() });
});

afterAll(async () => {
  await gw?.close();
  await dba?.end();
  await new Promise((r) => proxy?.server.close(r));
  const admin = await pgClient(pgInfo().database);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
});

describe('a swap committed just before a statement decided from a cached verdict', () => {
  test('is seen under concurrency, by the guarded path and by the catalog connection', async () => {
    const autocommit = await agent();
    const inTransaction = await agent();
    const noise = await Promise.all([agent(), agent(), agent()]);
    let stop = false;
    // Sessions that keep checks in flight on the catalog connection (in transactions) and guards
    // on their own connections (autocommit), all on verdicts the gateway has cached.
    const busy = noise.map(async (c, i) => {
      while (!stop) {
        if (i === 0) await c.query(NOISE).catch(() => undefined);
        else {
          await c.query('begin').catch(() => undefined);
          await c.query(NOISE).catch(() => undefined);
          await c.query('commit').catch(() => undefined);
        }
      }
    });
    const answers: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const secret = `SEC${randomBytes(6).toString('hex').toUpperCase()}`;
        secrets.push(secret);
        await dba.query(`create table vault_${round} (ssn text)`);
        await dba.query(`insert into vault_${round} values ($1)`, [secret]);
        // The gateway learns the classified column under its classified name, and caches verdicts
        // for the statements on the harmless table.
        for (const c of [autocommit, inTransaction]) {
          await c.query(`select ssn from vault_${round}`);
          await c.query(SIMPLE);
          await c.query(EXTENDED, [1]);
        }
        await inTransaction.query('begin');
        await inTransaction.query('select 1');
        // Out of step with the checks the statements above waited for: the other sessions' checks
        // are halfway through when the swap commits.
        await new Promise((r) => setTimeout(r, CATALOG_DELAY_MS * 1.5));
        await dba.query(`begin; alter table decoy rename to decoy_${round}; alter table vault_${round} rename to decoy; alter table decoy rename column ssn to c; commit`);
        // The swap is committed: these arrive after it.
        const [a, b, x] = await Promise.all([answer(() => autocommit.query(SIMPLE)), answer(() => inTransaction.query(SIMPLE)), answer(() => autocommit.query(EXTENDED, [1]))]);
        answers.push(a, b, x);
        await inTransaction.query('rollback').catch(() => undefined);
        // Put a harmless table back under the name for the next round.
        await dba.query(`begin; drop table decoy; create table decoy (c text); insert into decoy values ('harmless'); commit`);
      }
    } finally {
      stop = true;
      await Promise.all(busy);
      for (const c of [autocommit, inTransaction, ...noise]) await c.end();
    }
    for (const a of answers)
      expect(
        secrets.find((s) => a.includes(s)),
        a,
      ).toBeUndefined();
    // The statements were decided, not dropped: each came back masked or refused.
    expect(answers).toHaveLength(ROUNDS * 3);
  });
});
