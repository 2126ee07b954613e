/**
 * "No decision on stale knowledge", through the wire: the schema changes behind the gateway (a DBA
 * on the backend directly) or through another gateway session, and the very next statement an
 * agent sends must see the change. Each scenario runs a small leak corpus (plain projection,
 * expressions, whole-row, set operation, aggregate) and no raw classified value may reach the agent
 * or the evidence, whatever the gateway answered.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgresGateway } from '../../runtime/protocols/postgres/listener.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import pg from 'pg';
import fc from 'fast-check';
import { pgClient, pgInfo } from '../harness/postgres.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { EVENT_TRIGGER_SQL } from '../../runtime/sql/event-trigger.ts';

const DB = `fresh_${randomBytes(4).toString('hex')}`;
const PASSWORD_ENV = 'PORTCULLIS_TEST_SHOP_DB_PASSWORD';

function files(): Record<string, string> {
  const info = pgInfo();
  return {
    'targets/fresh-db.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: fresh-db }
spec:
  type: postgres
  host: ${info.host}
  port: ${info.port}
  database: ${DB}
  user: ${info.user}
  password: { env: ${PASSWORD_ENV} }
  classification:
    - name: government-id
      columns: [vault.ssn, public.moved.secret]
      strategy: redact
    - name: payment
      columns: ["*.card_number"]
      strategy: partial
`,
    'policies/fresh.yaml': `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: migrator }
spec: { kind: agent, match: { subject: migrator }, groups: [migrators] }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: fresh-readers }
spec:
  subjects: [{ group: testers }]
  targets: [fresh-db]
  rules:
    - id: read-write
      effect: allow
      actions: [select, insert, update, delete, copy, transaction, session]
      resources: ["*"]
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: fresh-migrators }
spec:
  subjects: [{ group: migrators }]
  targets: [fresh-db]
  rules:
    - id: everything-but-admin
      effect: allow
      actions: [select, insert, update, delete, copy, transaction, session, ddl]
      resources: ["*"]
`,
  };
}

let gw: GatewayFixture;
let stateDir: string;
let dba: pg.Client;
const secrets: string[] = [];

/** A value no other test data holds, remembered so any byte containing it counts as a leak. */
function secret(): string {
  const v = `SEC${randomBytes(6).toString('hex').toUpperCase()}`;
  secrets.push(v);
  return v;
}

function leakIn(text: string): string | undefined {
  return secrets.find((s) => text.includes(s));
}

async function agent(subject = 'tester'): Promise<pg.Client> {
  const c = new pg.Client(await gw.conn(subject, 'fresh-db'));
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** where the plain projection (masked, never refused) sits in the corpus */
const PLAIN = 2;

function statements(table: string, column: string): string[] {
  return [
    `select upper(${column}) from ${table}`,
    `select ${column} || '' from ${table}`,
    `select ${column} from ${table}`,
    `select ${column}::text as c from ${table}`,
    `select t::text from ${table} t`,
    `select ${column} from ${table} union all select ${column} from ${table}`,
    `select string_agg(${column}, ',') from ${table}`,
    `select * from ${table}`,
  ];
}

async function answer(c: pg.Client, sql: string): Promise<string> {
  return `${sql} -> ${await c.query(sql).then(
    (r) => JSON.stringify(r.rows),
    (e: Error) => `ERROR ${e.message}`,
  )}`;
}

/** Run each statement; what came back (rows or the error) as text. */
async function corpus(c: pg.Client, table: string, column: string): Promise<string[]> {
  const out: string[] = [];
  for (const sql of statements(table, column)) out.push(await answer(c, sql));
  return out;
}

/** Each statement of the corpus as the first one after `change` ran behind the gateway. */
async function corpusEachAfter(c: pg.Client, change: (i: number) => Promise<{ table: string; column: string }>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < statements('t', 'c').length; i++) {
    const { table, column } = await change(i);
    out.push(await answer(c, statements(table, column)[i]!));
  }
  return out;
}

/** evidence records before this seq belong to earlier tests */
let fromSeq = 0;

async function expectNoLeak(answers: string[]): Promise<void> {
  for (const a of answers) expect(leakIn(a), a).toBeUndefined();
  const evidence = JSON.stringify((await gw.evidence()).filter((r) => r.seq >= fromSeq));
  expect(leakIn(evidence), 'a raw classified value in the evidence').toBeUndefined();
}

/** A statement run from another database (ALTER DATABASE cannot target the current one). */
async function outside(sql: string): Promise<void> {
  const admin = await pgClient(pgInfo().database);
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A statement through the gateway, so its catalog is loaded (and then goes stale). */
async function touch(c: pg.Client, sql = 'select 1'): Promise<void> {
  await c.query(sql);
}

beforeAll(async () => {
  const admin = await pgClient(pgInfo().database);
  try {
    await admin.query(`CREATE DATABASE ${DB}`);
  } finally {
    await admin.end();
  }
  dba = await pgClient(DB);
  stateDir = await mkdtemp(join(tmpdir(), 'portcullis-catalog-state-'));
  gw = await startGatewayFixture({ files: files(), listener: { catalogStateDir: stateDir } });
});

beforeEach(async () => {
  fromSeq = ((await gw.evidence()).at(-1)?.seq ?? 0) + 1;
});

afterAll(async () => {
  await gw?.close();
  await dba?.end();
  await rm(stateDir, { recursive: true, force: true });
  const admin = await pgClient(pgInfo().database);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
});

describe('schema changes made behind the gateway', () => {
  test('a table created after the gateway loaded its catalog', async () => {
    const c = await agent();
    try {
      await touch(c);
      const answers = await corpusEachAfter(c, async (i) => {
        await dba.query(`create table late_${i} (id int primary key, card_number text, note text)`);
        await dba.query(`insert into late_${i} values (1, $1, 'a'), (2, $2, 'b')`, [secret(), secret()]);
        return { table: `late_${i}`, column: 'card_number' };
      });
      await expectNoLeak(answers);
      // the plain projection still works, masked
      expect(answers[PLAIN]).toContain('"card_number"');
      expect(answers[PLAIN]).not.toContain('ERROR');
    } finally {
      await c.end();
    }
  });

  test('a table dropped and recreated with other columns', async () => {
    const c = await agent();
    try {
      const answers = await corpusEachAfter(c, async () => {
        await dba.query(`drop table if exists wallet; create table wallet (id int, note text)`);
        await touch(c, 'select * from wallet');
        await dba.query(`drop table wallet; create table wallet (id int, card_number text)`);
        await dba.query(`insert into wallet values (1, $1), (2, $2)`, [secret(), secret()]);
        return { table: 'wallet', column: 'card_number' };
      });
      await expectNoLeak(answers);
    } finally {
      await c.end();
    }
  });

  test('a classified column renamed', async () => {
    await dba.query(`create table vault (id int primary key, ssn text, note text)`);
    await dba.query(`insert into vault values (3, $1, 'c')`, [secret()]);
    const c = await agent();
    try {
      await touch(c, 'select ssn from vault');
      await dba.query(`alter table vault rename column ssn to s2`);
      const answers = await corpus(c, 'vault', 's2');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
      // the drift is reported: log, evidence and a note on /readyz (the gateway stays ready)
      const status = gw.runtime.status();
      expect(status.ready).toBe(true);
      expect(status.notes?.some((n) => n.includes('public.vault.ssn') && n.includes('public.vault.s2'))).toBe(true);
      expect(gw.logs.some((l) => l.event === 'postgres.catalog.drift' && String(l['now']).endsWith('.vault.s2'))).toBe(true);
      const drift = (await gw.evidence(['catalog.drift'])).map((r) => r.data);
      expect(drift).toContainEqual(expect.objectContaining({ target: 'fresh-db', now: 'public.vault.s2', was: expect.arrayContaining(['public.vault.ssn']) }));
      await dba.query(`alter table vault rename column s2 to ssn`);
      await expectNoLeak(await corpus(c, 'vault', 'ssn'));
    } finally {
      await dba.query(`alter table vault rename column s2 to ssn`).catch(() => {});
      await c.end();
    }
  });

  test('a table renamed and renamed back', async () => {
    const c = await agent();
    try {
      await touch(c, 'select ssn from vault');
      await dba.query(`alter table vault rename to vault_old`);
      const answers = await corpus(c, 'vault_old', 'ssn');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
      await dba.query(`alter table vault_old rename to vault`);
      await expectNoLeak(await corpus(c, 'vault', 'ssn'));
    } finally {
      await dba.query(`alter table vault_old rename to vault`).catch(() => {});
      await c.end();
    }
  });

  test('a table moved to another schema', async () => {
    await dba.query(`create table moved (id int, secret text)`);
    await dba.query(`insert into moved values (1, $1), (2, $2)`, [secret(), secret()]);
    const c = await agent();
    try {
      await touch(c, 'select secret from moved');
      await dba.query(`create schema archive; alter table moved set schema archive`);
      const answers = await corpus(c, 'archive.moved', 'secret');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
    } finally {
      await c.end();
    }
  });

  test("the database's search_path changed to find another relation first", async () => {
    const before = await agent();
    await touch(before, 'select ssn from vault');
    await before.end();
    await dba.query(`create schema shadow; create view shadow.vault as select id, ssn as note from public.vault`);
    await dba.query(`alter database ${DB} set search_path = shadow, public`);
    // a session started after the change: its role/database default now differs from the catalog's
    const c = await agent();
    try {
      await expectNoLeak(await corpus(c, 'vault', 'note'));
    } finally {
      await c.end();
      await dba.query(`alter database ${DB} reset search_path`);
    }
  });
});

describe('classifications are remembered across restarts', () => {
  test('a column renamed while the gateway was down stays masked', async () => {
    await dba.query(`create table restart_t (id int, card_number text)`);
    await dba.query(`insert into restart_t values (1, $1)`, [secret()]);
    const c = await agent();
    try {
      await touch(c, 'select card_number from restart_t');
    } finally {
      await c.end();
    }
    // the memory is written in the background: wait until it names the column
    const file = join(stateDir, 'fresh-db.json');
    for (let i = 0; i < 200 && !(await readFile(file, 'utf8').catch(() => '')).includes('public.restart_t.card_number'); i++) await new Promise((r) => setTimeout(r, 50));
    // "down": a new listener with an empty catalog cache but the same state directory
    await dba.query(`alter table restart_t rename column card_number to rc`);
    const second = await startPostgresGateway(gw.runtime.ctx, { host: '127.0.0.1', port: 0, plaintext: 'loopback', maskKey: gw.runtime.maskKey, catalogStateDir: stateDir });
    const c2 = new pg.Client({ ...(await gw.conn('tester', 'fresh-db')), port: second.port });
    c2.on('error', () => {});
    await c2.connect();
    try {
      const answers = await corpus(c2, 'restart_t', 'rc');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
    } finally {
      await c2.end();
      await second.close();
    }
  });
});

describe('schema changes made through the gateway', () => {
  test('DDL in one session is seen by the next statement of another', async () => {
    const reader = await agent();
    const migrator = await agent('migrator');
    try {
      await touch(reader, 'select ssn from vault');
      await migrator.query(`alter table vault rename to vault_copy`);
      const answers = await corpus(reader, 'vault_copy', 'ssn');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
    } finally {
      await dba.query(`alter table vault_copy rename to vault`).catch(() => {});
      await reader.end();
      await migrator.end();
    }
  });

  test('a rename inside an open transaction is not decided on the old catalog', async () => {
    await dba.query(`create table txwallet (id int, card_number text)`);
    await dba.query(`insert into txwallet values (1, $1)`, [secret()]);
    const migrator = await agent('migrator');
    try {
      await touch(migrator, 'select card_number from txwallet');
      await migrator.query('begin');
      await migrator.query('alter table txwallet rename to txwallet_2');
      const answers: string[] = [];
      for (const sql of statements('txwallet_2', 'card_number')) {
        // each statement in its own savepoint, so a refusal does not end the transaction
        await migrator.query('savepoint s');
        answers.push(await answer(migrator, sql));
        await migrator.query('rollback to savepoint s');
      }
      await migrator.query('rollback');
      await expectNoLeak(answers);
    } finally {
      await migrator.end();
    }
  });
});

describe('DDL over a classified column, while masks apply', () => {
  test.each([
    'alter table vault rename column ssn to s3',
    'alter table vault alter column ssn type varchar(64)',
    "alter table vault alter column ssn set default 'x'",
    'alter table vault alter column ssn set not null',
    'alter table vault add column ssn_upper text generated always as (upper(ssn)) stored',
    "alter table vault add column ssn_copy text default 'x', alter column ssn drop default",
  ])('%s is refused', async (sql) => {
    const migrator = await agent('migrator');
    try {
      const err = await migrator.query(sql).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/classified|masked/);
      const columns = await dba.query(`select attname from pg_attribute where attrelid = 'vault'::regclass and attnum > 0 and not attisdropped order by attnum`);
      expect(columns.rows.map((r) => r.attname)).toEqual(['id', 'ssn', 'note']);
    } finally {
      await migrator.end();
    }
  });

  test('DDL over unclassified columns still runs', async () => {
    const migrator = await agent('migrator');
    try {
      await migrator.query('alter table vault rename column note to remark');
      await migrator.query('alter table vault rename column remark to note');
    } finally {
      await migrator.end();
    }
  });
});

describe('property: DDL behind the gateway interleaved with agent statements', () => {
  interface Place {
    schema: string;
    table: string;
    column: string;
  }
  type Op = { kind: 'rename-column'; to: string } | { kind: 'rename-table'; to: string } | { kind: 'move'; to: string } | { kind: 'recreate' } | { kind: 'insert' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    // renames of the classified column are the sharpest edge: drawn most often
    { arbitrary: fc.record({ kind: fc.constant('rename-column' as const), to: fc.constantFrom('card_number', 'cx', 'cy') }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('rename-table' as const), to: fc.constantFrom('prop', 'prop_b') }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('move' as const), to: fc.constantFrom('public', 'side') }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('recreate' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('insert' as const) }), weight: 1 },
  );
  const step = fc.record({ op, asks: fc.array(fc.nat({ max: statements('t', 'c').length - 1 }), { minLength: 1, maxLength: 2 }) });

  async function recreate(at: Place): Promise<Place> {
    await dba.query(`drop table if exists ${at.schema}.${at.table}`);
    await dba.query(`create table ${at.schema}.${at.table} (id int, card_number text, note text)`);
    await dba.query(`insert into ${at.schema}.${at.table} values (1, $1, 'n'), (2, $2, 'm')`, [secret(), secret()]);
    return { ...at, column: 'card_number' };
  }

  test('no raw classified value reaches the agent or the evidence', async () => {
    await dba.query('create schema if not exists side');
    const c = await agent();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 5 }), async (steps) => {
          await dba.query('drop table if exists public.prop, public.prop_b, side.prop, side.prop_b');
          let at = await recreate({ schema: 'public', table: 'prop', column: 'card_number' });
          // the gateway sees the column classified before anything moves it (what it never saw
          // classified, it cannot follow: lint --catalog flags classifications that match nothing)
          await touch(c, `select id from ${at.schema}.${at.table}`);
          const answers: string[] = [];
          for (const { op: o, asks } of steps) {
            const rel = `${at.schema}.${at.table}`;
            if (o.kind === 'rename-column' && o.to !== at.column) {
              await dba.query(`alter table ${rel} rename column ${at.column} to ${o.to}`);
              at = { ...at, column: o.to };
            } else if (o.kind === 'rename-table' && o.to !== at.table) {
              await dba.query(`alter table ${rel} rename to ${o.to}`);
              at = { ...at, table: o.to };
            } else if (o.kind === 'move' && o.to !== at.schema) {
              await dba.query(`alter table ${rel} set schema ${o.to}`);
              at = { ...at, schema: o.to };
            } else if (o.kind === 'recreate') {
              at = await recreate(at);
              await touch(c, `select id from ${at.schema}.${at.table}`);
            } else if (o.kind === 'insert') {
              await dba.query(`insert into ${rel} (id, ${at.column}) values (3, $1)`, [secret()]);
            }
            for (const i of asks) answers.push(await answer(c, statements(`${at.schema}.${at.table}`, at.column)[i]!));
          }
          for (const a of answers) expect(leakIn(a), a).toBeUndefined();
        }),
        { numRuns: 8, endOnFailure: true },
      );
      await expectNoLeak([]);
    } finally {
      await c.end();
    }
  }, 120_000);
});

describe('with the event trigger installed (docs/postgres-gateway.md)', () => {
  test('a rename behind the gateway is seen through the epoch table', async () => {
    await dba.query(EVENT_TRIGGER_SQL.replaceAll(':gateway_role', pgInfo().user));
    await dba.query(`create table epoch_wallet (id int, card_number text)`);
    await dba.query(`insert into epoch_wallet values (1, $1)`, [secret()]);
    const c = await agent();
    try {
      await touch(c, 'select card_number from epoch_wallet');
      await dba.query(`alter table epoch_wallet rename column card_number to cn`);
      const answers = await corpus(c, 'epoch_wallet', 'cn');
      await expectNoLeak(answers);
      expect(answers[PLAIN]).not.toContain('ERROR');
    } finally {
      await c.end();
    }
  });
});

describe('fail closed', () => {
  test('statements on a target with masks are refused when the catalog cannot be made current', async () => {
    const c = await agent();
    try {
      await touch(c, 'select ssn from vault');
      // the gateway's catalog connection is ended by the server; reconnecting is refused below
      await outside(`alter database ${DB} with allow_connections false`);
      await dba.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'portcullis-catalog'`, [DB]);
      // In a transaction the check must run on the catalog connection, which cannot be reached.
      await c.query('begin');
      const err = await c.query('select ssn from vault').then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/catalog current/);
      await c.query('rollback');
      // Outside one, a guard sent with the statement proves the catalog unchanged without the
      // catalog connection; a change behind the gateway makes it fail, and the statement is refused.
      expect((await c.query('select ssn from vault')).rows.length).toBeGreaterThan(0);
      await dba.query('create table unseen (x int)');
      const changed = await c.query('select ssn from vault').then(
        () => undefined,
        (e: Error) => e,
      );
      expect(changed?.message).toMatch(/catalog current/);
    } finally {
      await dba.query('drop table if exists unseen');
      await outside(`alter database ${DB} with allow_connections true`);
      await c.end();
    }
  });
});

describe('the freshness check itself', () => {
  test('runs on one catalog connection: its prepared checks do not make it reconnect', async () => {
    const c = await agent();
    const catalogPids = async () =>
      (await dba.query(`select pid from pg_stat_activity where datname = $1 and application_name = 'portcullis-catalog' order by pid`, [DB])).rows.map((r: { pid: number }) => r.pid);
    try {
      await dba.query('create table warm (card_number text)');
      await c.query('select card_number from warm');
      const before = await catalogPids();
      expect(before.length).toBe(1);
      // each of these follows a commit (the probe moves), so each runs both prepared checks
      for (let i = 0; i < 5; i++) {
        await dba.query('select 1');
        await c.query(`insert into warm values ('x${i}')`);
        await c.query('select card_number from warm');
      }
      expect(await catalogPids()).toEqual(before);
    } finally {
      await c.end();
    }
  });
});
