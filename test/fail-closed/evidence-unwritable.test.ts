/**
 * Evidence that cannot be written stops new statements, and nothing reaches the backend without its
 * decision record; once evidence can be written again the same gateway serves on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { readEvidence, verifyEvidence } from '../../runtime/evidence/index.ts';
import { readPostgresEvidence, verifyPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { defaultPublicKeyFile, defaultWitnessFile } from '../../runtime/evidence/custody.ts';
import { createStateDatabase, type StateDatabase } from '../replicas/state-db.ts';
import { backendLog, backendLogSize, failure, marker, startGateway, type Gateway } from './fixture.ts';
import { breakableDisk } from '../evidence/helpers.ts';

const gateways: Gateway[] = [];
const dbs: StateDatabase[] = [];
afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  await Promise.allSettled(dbs.map((d) => d.drop()));
});

interface Outage {
  gw: Gateway;
  breakEvidence(): Promise<void>;
  repair(): Promise<void>;
  decisions(): Promise<string[]>;
  verify(): Promise<boolean>;
  resumed(): Promise<number>;
}

/** The scenario both stores go through; `expectReason` is what status says while evidence is down. */
async function scenario(o: Outage, expectReason: RegExp): Promise<void> {
  const { gw } = o;
  const logStart = await backendLogSize();
  const session = await gw.connect();
  const before = marker('before');
  await session.query(`select '${before}' as m from products limit 1`);

  await o.breakEvidence();
  const during = marker('during');
  // Statements on an open session: refused with the SQLSTATE for "cannot do this now", never forwarded.
  const refused = await failure(session.query(`select '${during}' as m from products limit 1`));
  expect(refused).toMatchObject({ code: '57P03', severity: 'ERROR' });
  expect(refused.message).toBe('portcullis: the evidence store cannot record this decision, so the statement is refused');
  await expect.poll(() => gw.runtime.status().ready).toBe(false);
  expect(gw.runtime.status().reason).toMatch(expectReason);
  // New sessions: refused at the door.
  const door = await failure(gw.connect());
  expect(door).toMatchObject({ code: '57P03', severity: 'FATAL' });
  expect(door.message).toMatch(/evidence store is not writable/);
  // and it stays that way while the store is down
  for (let i = 0; i < 5; i++) expect((await failure(session.query(`select '${during}_${i}' as m from products limit 1`))).code).toBe('57P03');

  await o.repair();
  // The watchdog brings the store back: no restart, no request needed.
  await expect.poll(() => gw.runtime.status().ready, { timeout: 8000 }).toBe(true);
  await expect.poll(() => o.resumed(), { timeout: 3000 }).toBeGreaterThanOrEqual(1);
  const after = marker('after');
  expect((await session.query(`select '${after}' as m from products limit 1`)).rows[0].m).toBe(after);
  const fresh = await gw.connect();
  expect((await fresh.query(`select '${after}_new' as m from products limit 1`)).rows[0].m).toBe(`${after}_new`);

  const log = await backendLog(logStart);
  expect(log).toContain(before);
  expect(log).toContain(after);
  expect(log).not.toContain(during);
  // Everything that reached the backend has its decision record.
  const recorded = (await o.decisions()).join('\n');
  for (const m of [before, after, `${after}_new`]) expect(recorded).toContain(m);
  await closeAll(session, fresh);
  expect(await o.verify()).toBe(true);
}

async function closeAll(...clients: pg.Client[]): Promise<void> {
  await Promise.allSettled(clients.map((c) => c.end()));
}

describe('evidence store unwritable', () => {
  it('file store (disk full): statements refused, nothing forwarded unrecorded, recovery without restart', async () => {
    const enospc = () => Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    // Root ignores permission bits, so the "disk" fills through the store's file seams instead.
    const disk = breakableDisk();
    const gw = await startGateway({ evidence: disk.evidence });
    gateways.push(gw);
    const dir = join(gw.dataDir, 'evidence');
    await scenario(
      {
        gw,
        breakEvidence: async () => disk.fail(enospc, 'writes'),
        repair: async () => disk.fail(undefined),
        decisions: async () => {
          const out: string[] = [];
          for await (const r of readEvidence(dir, { types: ['decision'] })) out.push(JSON.stringify(r.data));
          return out;
        },
        resumed: async () => {
          let n = 0;
          for await (const _ of readEvidence(dir, { types: ['evidence.resumed'] })) n++;
          return n;
        },
        verify: async () => (await verifyEvidence(dir, await readFile(defaultPublicKeyFile(gw.dataDir), 'utf8'), { witness: defaultWitnessFile(gw.dataDir) })).ok,
      },
      /^the evidence store is not writable/,
    );
  });

  it('PostgreSQL store (state database down): the same, and status names the database', async () => {
    const db = await createStateDatabase();
    dbs.push(db);
    const gw = await startGateway({ config: { state: { postgres: db.url, replica: 'fc-1' } } });
    gateways.push(gw);
    expect(gw.runtime.status()).toMatchObject({ ready: true, replica: 'fc-1', evidence: { store: 'postgres', healthy: true } });
    const pub = () => readFile(defaultPublicKeyFile(gw.dataDir), 'utf8');
    await scenario(
      {
        gw,
        breakEvidence: () => db.takeDown(),
        repair: () => db.bringUp(),
        decisions: async () => {
          const out: string[] = [];
          for await (const r of readPostgresEvidence(db.url, { types: ['decision'] })) out.push(JSON.stringify(r.data));
          return out;
        },
        resumed: async () => {
          let n = 0;
          for await (const _ of readPostgresEvidence(db.url, { types: ['evidence.resumed'] })) n++;
          return n;
        },
        verify: async () => (await verifyPostgresEvidence(db.url, await pub())).ok,
      },
      /^the evidence store is not writable: .*PostgreSQL state database 127\.0\.0\.1:\d+\/state_/,
    );
  });
});
