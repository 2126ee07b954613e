import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { PostgresEvidenceStore } from '../../runtime/evidence/postgres-store.ts';
import { readPostgresEvidence, verifyPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { keyIdOf, type SigningKey } from '../../runtime/evidence/keys.ts';
import { createStateDatabase, type StateDatabase } from './state-db.ts';

function signingKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

const key = signingKey();
const dbs: StateDatabase[] = [];
const stores: PostgresEvidenceStore[] = [];
afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(dbs.map((d) => d.drop()));
});

async function fresh(): Promise<StateDatabase> {
  const db = await createStateDatabase();
  dbs.push(db);
  return db;
}

async function open(db: StateDatabase, replica: string, extra: Partial<Parameters<typeof PostgresEvidenceStore.open>[0]> = {}): Promise<PostgresEvidenceStore> {
  const store = await PostgresEvidenceStore.open({ url: db.url, replica, signingKey: key, checkpointIntervalMs: 60_000, timeoutMs: 2000, ...extra });
  stores.push(store);
  return store;
}

describe('PostgresEvidenceStore', () => {
  let db: StateDatabase;
  beforeAll(async () => {
    db = await fresh();
  });

  it('interleaves concurrent replicas into one valid chain, group-committing each replica', async () => {
    const a = await open(db, 'replica-a', { checkpointEvery: 50 });
    const b = await open(db, 'replica-b', { checkpointEvery: 50 });
    const acks = [];
    for (let round = 0; round < 20; round++) {
      acks.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append('test.event', { round, i })))));
    }
    const seqs = acks.map((x) => x.seq);
    expect(new Set(seqs).size).toBe(200);

    const records = [];
    for await (const r of readPostgresEvidence(db.url, { types: ['test.event'] })) records.push(r);
    expect(records).toHaveLength(200);
    const writers = records.map((r) => r.replica);
    expect(new Set(writers)).toEqual(new Set(['replica-a', 'replica-b']));
    // the two replicas' batches alternate in the one chain
    expect(writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length).toBeGreaterThanOrEqual(20);
    // the replica is inside the hashed data, not only in the column
    for (const r of records) expect((r.data as { replica: string }).replica).toBe(r.replica);
    // 200 appends from two replicas took far fewer transactions than records: group commit
    const stats = await db.sql(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`);
    expect(Number(stats.rows[0].xact_commit)).toBeLessThan(400);

    await a.close();
    await b.close();
    const v = await verifyPostgresEvidence(db.url, key.publicKey, { requireSignedTail: true });
    expect(v).toMatchObject({ ok: true, records: 200 + v.checkpoints, replicas: { 'replica-a': expect.any(Number), 'replica-b': expect.any(Number) } });
    expect(v.checkpoints).toBeGreaterThanOrEqual(3);
  });

  it('detects an edited record, a removed tail and a checkpoint by an unknown key', async () => {
    const d = await fresh();
    const s = await open(d, 'r1', { checkpointEvery: 5 });
    for (let i = 0; i < 12; i++) await s.append('x', { i });
    await s.close();
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).ok).toBe(true);
    expect((await verifyPostgresEvidence(d.url, signingKey().publicKey)).firstProblem).toMatchObject({ kind: 'bad-signature' });
    // several keys: the one that signed is among them
    expect((await verifyPostgresEvidence(d.url, [signingKey().publicKey, key.publicKey])).ok).toBe(true);

    await d.sql(`UPDATE portcullis_evidence SET data = '{"i":99,"replica":"r1"}' WHERE seq = 3`);
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).firstProblem).toMatchObject({ seq: 3, kind: 'edited' });
    await d.sql(`UPDATE portcullis_evidence SET data = '{"i":2,"replica":"r1"}' WHERE seq = 3`);
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).ok).toBe(true);

    await d.sql(`UPDATE portcullis_evidence SET replica = 'other' WHERE seq = 4`);
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).firstProblem).toMatchObject({ seq: 4, kind: 'edited' });
    await d.sql(`UPDATE portcullis_evidence SET replica = 'r1' WHERE seq = 4`);

    await d.sql(`DELETE FROM portcullis_evidence WHERE seq >= (SELECT max(seq) - 1 FROM portcullis_evidence)`);
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).firstProblem).toMatchObject({ kind: 'removed' });
    await d.sql(`DELETE FROM portcullis_evidence WHERE seq = 2`);
    expect((await verifyPostgresEvidence(d.url, key.publicKey)).firstProblem).toMatchObject({ seq: 2, kind: 'removed' });
  });

  it('is unhealthy while the database is down, refuses appends, and recovers without a restart', async () => {
    const d = await fresh();
    const s = await open(d, 'r1');
    await s.append('x', { before: true });
    await d.takeDown();
    await expect.poll(() => s.healthy(), { timeout: 3000 }).toBe(false);
    await expect(s.append('x', { during: true })).rejects.toMatchObject({ code: 'failed_precondition', message: expect.stringMatching(/evidence store is not writable: .*state database/) });
    expect(s.lastError()).toMatch(/state database 127\.0\.0\.1:\d+\/state_/);
    await d.bringUp();
    const ok = await s.append('x', { after: true });
    expect(s.healthy()).toBe(true);
    expect(ok.seq).toBe(2);
    const types: unknown[] = [];
    for await (const r of readPostgresEvidence(d.url)) types.push(r.data);
    expect(types).toEqual([
      { before: true, replica: 'r1' },
      { after: true, replica: 'r1' },
    ]);
    await s.close();
    expect((await verifyPostgresEvidence(d.url, key.publicKey, { requireSignedTail: true })).ok).toBe(true);
  });

  it('starts unhealthy when the database is unreachable, but refuses bad credentials outright', async () => {
    const d = await fresh();
    await d.takeDown();
    const s = await open(d, 'r1');
    expect(s.healthy()).toBe(false);
    await d.bringUp();
    await s.append('x', {});
    expect(s.healthy()).toBe(true);
    const wrong = d.url.replace(/:[^:@/]+@/, ':wrong@');
    await expect(PostgresEvidenceStore.open({ url: wrong, replica: 'r2', signingKey: key })).rejects.toMatchObject({ code: 'failed_precondition', message: expect.stringMatching(/password/) });
  });
});
