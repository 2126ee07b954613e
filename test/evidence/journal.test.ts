/**
 * The journal batches are flushed through: a host crash loses the log's unflushed tail, and the
 * journal must bring back every acknowledged record, and nothing that was not one.
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileEvidenceStore, evidenceLogPath } from '../../runtime/evidence/store.ts';
import { journalPath, openJournalFile, type OpenJournalFile } from '../../runtime/evidence/journal.ts';
import { openLogFile, type OpenLogFile } from '../../runtime/evidence/log-file.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { readRecords, scratchDirs } from './helpers.ts';

const dir = scratchDirs();

/** A log file that remembers how many of its bytes a completed (and slow) flush made durable. */
function trackedLog(delayMs = 0): { open: OpenLogFile; durable: () => number; syncs: () => number } {
  let durable = 0;
  let syncs = 0;
  return {
    durable: () => durable,
    syncs: () => syncs,
    open: async (path) => {
      const f = await openLogFile(path);
      return {
        ...f,
        async sync() {
          const size = await f.size();
          await new Promise((r) => setTimeout(r, delayMs));
          await f.sync();
          syncs++;
          // the last completed flush (the store may have cut the file back since an earlier one)
          durable = size;
        },
      };
    },
  };
}

/** What is on disk after a power cut: the log up to its last flush, the journal, the keys. */
async function crashCopy(from: string, durableLogBytes: number): Promise<string> {
  const to = await dir();
  for (const name of ['evidence.jsonl', 'evidence.journal', 'checkpoint-key.pem', 'checkpoint-key.pub.pem']) {
    await copyFile(join(from, name), join(to, name));
  }
  await truncate(evidenceLogPath(to), durableLogBytes);
  return to;
}

describe('evidence journal', () => {
  it('brings back every acknowledged record the log lost, across many wraps of a small journal', async () => {
    const d = await dir();
    // Slow log flushes: the journal comes round while one is still running.
    const log = trackedLog(15);
    // Sixteen pages: every frame takes at least one, so the journal wraps every few waves and must
    // flush the log before it overwrites a frame the log may still need.
    const store = await FileEvidenceStore.open(d, { openFile: log.open, journalBytes: 64 << 10, checkpointEvery: 25, checkpointIntervalMs: 60_000 });
    const acked: { seq: number; i: number }[] = [];
    for (let wave = 0; wave < 60; wave++) {
      const n = 1 + (wave % 7);
      const base = acked.length;
      const acks = await Promise.all(Array.from({ length: n }, (_, k) => store.append('x', { i: base + k, pad: 'p'.repeat(300 * k) })));
      acks.forEach((a, k) => acked.push({ seq: a.seq, i: base + k }));
    }
    // Two last batches, after any log flush has finished: too little to start another one.
    await new Promise((r) => setTimeout(r, 50));
    for (const i of [acked.length, acked.length + 1]) acked.push({ seq: (await store.append('x', { i })).seq, i });
    expect(acked.length).toBeGreaterThan(200);
    const logBytes = (await readFile(evidenceLogPath(d))).length;
    expect(logBytes).toBeGreaterThan(2 * (64 << 10));
    expect(log.durable()).toBeLessThan(logBytes);
    expect(log.syncs()).toBeGreaterThan(3);

    const crashed = await crashCopy(d, log.durable());
    expect((await readFile(journalPath(crashed))).length).toBe(64 << 10);
    // Before the restart, verify reads the short log as intact and counts what only the journal holds.
    const inLog = (await readRecords(crashed)).length;
    const before = await verifyEvidence(crashed, await readFile(join(crashed, 'checkpoint-key.pub.pem'), 'utf8'));
    expect(before).toMatchObject({ ok: true, records: inLog });
    expect(inLog + (before.journalOnly ?? 0)).toBeGreaterThanOrEqual(Math.max(...acked.map((a) => a.seq)));
    const reopened = await FileEvidenceStore.open(crashed, { checkpointIntervalMs: 60_000 });
    await reopened.close();
    const records = await readRecords(crashed);
    const bySeq = new Map(records.map((r) => [r.seq, r]));
    for (const a of acked) expect(bySeq.get(a.seq)?.data).toMatchObject({ i: a.i });
    expect(await verifyEvidence(crashed, await readFile(join(crashed, 'checkpoint-key.pub.pem'), 'utf8'), { requireSignedTail: true })).toMatchObject({ ok: true });
    await store.close();
  });

  it('ignores a journal frame that does not continue the chain, even one with valid checksums', async () => {
    const d = await dir();
    const log = trackedLog();
    const store = await FileEvidenceStore.open(d, { openFile: log.open, checkpointIntervalMs: 60_000 });
    await store.append('x', { i: 0 });
    await store.append('x', { i: 1 });
    await store.append('x', { i: 2 });
    const crashed = await crashCopy(d, log.durable());
    await store.close();

    // Rewrite the frame holding i:2 as an attacker who knows the format would: new content, new CRCs.
    const journal = await readFile(journalPath(crashed));
    let edited = 0;
    for (let at = 0; at + 32 <= journal.length; at += 4096) {
      if (journal.readUInt32LE(at) !== 0x314a4350) continue;
      const length = journal.readUInt32LE(at + 8);
      const payload = journal.subarray(at + 32, at + 32 + length);
      const text = payload.toString('utf8');
      if (!text.includes('"i":2')) continue;
      const forged = Buffer.from(text.replace('"i":2', '"i":9'), 'utf8');
      expect(forged.length).toBe(length);
      forged.copy(journal, at + 32);
      journal.writeUInt32LE(crc32(forged), at + 12);
      journal.writeUInt32LE(crc32(journal.subarray(at, at + 28)), at + 28);
      edited++;
    }
    expect(edited).toBe(1);
    await writeFile(journalPath(crashed), journal);

    const reopened = await FileEvidenceStore.open(crashed, { checkpointIntervalMs: 60_000 });
    await reopened.close();
    const records = await readRecords(crashed);
    const xs = records.filter((r) => r.type === 'x').map((r) => r.data);
    expect(xs).not.toContainEqual({ i: 9 });
    // records before the forged one came back from the journal; nothing from the forgery on did
    expect(xs).toContainEqual({ i: 1 });
    expect(xs).not.toContainEqual({ i: 2 });
    expect((await verifyEvidence(crashed, await readFile(join(crashed, 'checkpoint-key.pub.pem'), 'utf8'))).ok).toBe(true);
  });

  it('never brings back a refused batch, even one the log had flushed before its own flush failed', async () => {
    const d = await dir();
    const log = trackedLog();
    let hang: ((error: Error) => void) | undefined;
    let armed = false;
    const openJournal: OpenJournalFile = async (path) => {
      const f = await openJournalFile(path);
      return {
        ...f,
        async sync() {
          if (!armed) return f.sync();
          armed = false;
          await f.sync();
          return new Promise<void>((_, reject) => (hang = reject));
        },
      };
    };
    // A short interval: the store's timer flushes the log while the batch's own flush hangs.
    const store = await FileEvidenceStore.open(d, { openFile: log.open, openJournal, checkpointIntervalMs: 20 });
    await store.append('x', { i: 0 });
    armed = true;
    const lost = store.append('x', { lost: 1 });
    const syncsBefore = log.syncs();
    await new Promise((r) => setTimeout(r, 150));
    expect(log.syncs()).toBeGreaterThan(syncsBefore);
    hang!(Object.assign(new Error('i/o error'), { code: 'EIO' }));
    await expect(lost).rejects.toMatchObject({ code: 'failed_precondition' });
    await store.append('x', { after: 1 });
    const live = (await readRecords(d)).filter((r) => r.type === 'x').map((r) => r.data);
    expect(live).toEqual([{ i: 0 }, { after: 1 }]);

    const crashed = await crashCopy(d, log.durable());
    await store.close();
    const reopened = await FileEvidenceStore.open(crashed, { checkpointIntervalMs: 60_000 });
    await reopened.close();
    expect((await readRecords(crashed)).filter((r) => r.type === 'x').map((r) => r.data)).toEqual([{ i: 0 }, { after: 1 }]);
    expect((await verifyEvidence(crashed, await readFile(join(crashed, 'checkpoint-key.pub.pem'), 'utf8'))).ok).toBe(true);
  });

  for (const later of [{ durability: 'write' as const }, { journalBytes: 0 }]) {
    it(`restores from a journal an earlier run left, also when this run does not use one (${JSON.stringify(later)})`, async () => {
      const d = await dir();
      const log = trackedLog();
      const store = await FileEvidenceStore.open(d, { openFile: log.open, checkpointIntervalMs: 60_000 });
      for (let i = 0; i < 5; i++) await store.append('x', { i });
      const crashed = await crashCopy(d, log.durable());
      await store.close();
      expect((await readRecords(crashed)).filter((r) => r.type === 'x')).toHaveLength(0);

      const reopened = await FileEvidenceStore.open(crashed, { ...later, checkpointIntervalMs: 60_000 });
      await reopened.append('x', { i: 5 });
      await reopened.close();
      expect((await readRecords(crashed)).filter((r) => r.type === 'x').map((r) => r.data)).toEqual([0, 1, 2, 3, 4, 5].map((i) => ({ i })));
      expect(existsSync(journalPath(crashed))).toBe(false);
      expect((await verifyEvidence(crashed, await readFile(join(crashed, 'checkpoint-key.pub.pem'), 'utf8'), { requireSignedTail: true })).ok).toBe(true);
    });
  }
});
