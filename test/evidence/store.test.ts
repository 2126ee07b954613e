import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { FileEvidenceStore, evidenceLogPath, type FileEvidenceStoreOptions } from '../../runtime/evidence/store.ts';
import { openJournalFile, type JournalFile } from '../../runtime/evidence/journal.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { EvidenceIndex } from '../../runtime/evidence/reader.ts';
import { recordHash, GENESIS } from '../../runtime/evidence/record.ts';
import type { LogFile, OpenLogFile } from '../../runtime/evidence/log-file.ts';
import { openLogFile } from '../../runtime/evidence/log-file.ts';
import { readRecords, scratchDirs, writeRecords } from './helpers.ts';
import type { EvidenceRecord } from '../../runtime/evidence/record.ts';

const dir = scratchDirs();

describe('FileEvidenceStore', () => {
  it('group-commits 200 concurrent appends in call order with an intact chain', async () => {
    const d = await dir();
    let writes = 0;
    let syncs = 0;
    const counting: OpenLogFile = async (path) => {
      const f = await openLogFile(path);
      return { ...f, append: (b) => (writes++, f.append(b)), sync: () => (syncs++, f.sync()) };
    };
    const store = await FileEvidenceStore.open(d, { format: 1, openFile: counting, checkpointEvery: 50, checkpointIntervalMs: 60_000 });
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append('test', { i })));
    // seq follows call order; checkpoints take seqs in between
    const seqs = acks.map((a) => a.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(writes).toBeLessThan(20); // far fewer writes than appends
    expect(syncs).toBeLessThanOrEqual(writes + 1); // + the one making a new file durable
    await store.close();

    const records = await readRecords(d);
    let prev = GENESIS;
    records.forEach((r, i) => {
      expect(r.seq).toBe(i + 1);
      expect(r.prev).toBe(prev);
      expect(recordHash(r)).toBe(r.hash);
      prev = r.hash;
    });
    const data = records.filter((r) => r.type === 'test').map((r) => (r.data as { i: number }).i);
    expect(data).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const [i, a] of acks.entries()) expect(records[a.seq - 1]?.data).toEqual({ i });
    expect(records.at(-1)?.type).toBe('checkpoint');
    // one batch, one checkpoint signing its head: checkpoints bound unsigned records per write
    expect(records.filter((r) => r.type === 'checkpoint').length).toBeGreaterThanOrEqual(1);

    const result = await verifyEvidence(d, await readFile(join(d, 'checkpoint-key.pub.pem'), 'utf8'), { requireSignedTail: true });
    expect(result).toMatchObject({ ok: true, records: records.length, unsignedTail: 0 });
  });

  it('resumes the chain after a crash (SIGKILL, stale lock)', async () => {
    const d = await dir();
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'crash-writer.ts'), d, '5'], {
      encoding: 'utf8',
    });
    expect(child.signal).toBe('SIGKILL');
    const head = JSON.parse(child.stdout) as { seq: number; hash: string };
    expect(head.seq).toBe(6); // 5 records and the checkpoint after the third
    const b = await FileEvidenceStore.open(d, { format: 1, checkpointEvery: 3 });
    expect(b.healthy()).toBe(true);
    expect(b.head()).toEqual(head);
    const next = await b.append('x', { i: 5 });
    expect(next.seq).toBe(head.seq + 1);
    await b.close();
    const result = await verifyEvidence(d, b.publicKey()!, { requireSignedTail: true });
    expect(result).toMatchObject({ ok: true, records: 8 }); // x x x cp x x | x cp
  });

  it('refuses a second writer on the same directory', async () => {
    const d = await dir();
    const a = await FileEvidenceStore.open(d, { format: 1 });
    await expect(FileEvidenceStore.open(d, { format: 1 })).rejects.toMatchObject({ code: 'failed_precondition', message: expect.stringContaining('another writer') });
    await a.close();
    const b = await FileEvidenceStore.open(d, { format: 1 });
    expect(b.healthy()).toBe(true);
    await b.close();
  });

  it('drops an interrupted last line on restart and records that it did', async () => {
    const d = await dir();
    const a = await FileEvidenceStore.open(d, { format: 1 });
    await a.append('x', { i: 1 });
    await a.close();
    await appendFile(evidenceLogPath(d), '{"seq":3,"ts":"2026-');
    const b = await FileEvidenceStore.open(d, { format: 1 });
    const ack = await b.append('x', { i: 2 });
    await b.close();
    const records = await readRecords(d);
    expect(records.map((r) => r.type)).toEqual(['x', 'checkpoint', 'evidence.recovered', 'x', 'checkpoint']);
    expect(ack.seq).toBe(4);
    expect((await verifyEvidence(d, b.publicKey()!)).ok).toBe(true);
  });

  it('refuses to open a log whose tail was edited', async () => {
    const d = await dir();
    const a = await FileEvidenceStore.open(d, { format: 1, checkpointEvery: 1000 });
    for (let i = 0; i < 3; i++) await a.append('x', { i });
    await a.close();
    const records = await readRecords(d);
    const last = records.at(-1) as EvidenceRecord;
    (last.data as { upTo: number }).upTo = 2; // the closing checkpoint now claims to sign less
    await writeRecords(d, records);
    await expect(FileEvidenceStore.open(d, { format: 1 })).rejects.toMatchObject({ code: 'tampered' });
    last.hash = recordHash(last); // re-hashed: the signature still gives it away
    await writeRecords(d, records);
    await expect(FileEvidenceStore.open(d, { format: 1 })).rejects.toMatchObject({ code: 'tampered' });
  });

  it('rejects with failed_precondition while the directory is unwritable, then recovers', async () => {
    const base = await dir();
    const blocker = join(base, 'blocker');
    await writeFile(blocker, 'a file where a directory should be');
    const d = join(blocker, 'evidence');
    const store = await FileEvidenceStore.open(d, { format: 1 });
    expect(store.healthy()).toBe(false);
    const err = await store.append('x', { i: 1 }).catch((e: unknown) => e);
    expect(PortcullisError.is(err, 'failed_precondition')).toBe(true);
    expect((err as Error).message).toMatch(/^evidence store is not writable: /);
    expect(store.healthy()).toBe(false);
    await rm(blocker);
    expect(await store.append('x', { i: 2 })).toMatchObject({ seq: 1 });
    expect(store.healthy()).toBe(true);
    await store.close();
  });

  /**
   * The flush a batch waits for: the journal's (default), or the log's own when the journal is off.
   * Faults are injected into whichever file that flush belongs to.
   */
  const flushPaths = [
    { name: 'journal', journalBytes: undefined },
    { name: 'log', journalBytes: 0 },
  ] as const;
  type Faults = { sync?: () => Promise<void> | undefined; write?: () => Error | undefined };
  function faultyFiles(path: (typeof flushPaths)[number], faults: Faults): Pick<FileEvidenceStoreOptions, 'openFile' | 'openJournal' | 'journalBytes'> {
    const sync = async (real: () => Promise<void>) => {
      const injected = faults.sync?.();
      if (injected) return injected;
      return real();
    };
    if (path.name === 'log') {
      return {
        journalBytes: 0,
        openFile: async (p) => {
          const f = await openLogFile(p);
          return { ...f, sync: () => sync(() => f.sync()) };
        },
      };
    }
    return {
      openJournal: async (p) => {
        const f: JournalFile = await openJournalFile(p);
        return {
          ...f,
          async writeAt(b, at) {
            const error = faults.write?.();
            if (error) {
              await f.writeAt(b.subarray(0, Math.floor(b.length / 2)), at);
              throw error;
            }
            return f.writeAt(b, at);
          },
          sync: () => sync(() => f.sync()),
        };
      },
    };
  }

  it('a failed log write rejects the whole batch, leaves no hole, and later writes succeed', async () => {
    const d = await dir();
    let fail = false;
    const faulty: OpenLogFile = async (path) => {
      const f: LogFile = await openLogFile(path);
      return {
        ...f,
        async append(b) {
          if (fail) {
            // half the bytes reach the file, then the disk "fills"
            await f.append(b.subarray(0, Math.floor(b.length / 2)));
            fail = false;
            throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          }
          return f.append(b);
        },
      };
    };
    const store = await FileEvidenceStore.open(d, { format: 1, openFile: faulty, checkpointIntervalMs: 60_000 });
    await store.append('x', { i: 0 });
    fail = true;
    const results = await Promise.allSettled([store.append('x', { lost: 1 }), store.append('x', { lost: 2 })]);
    for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'failed_precondition' } });
    expect(store.healthy()).toBe(false);
    expect(await store.append('x', { after: 1 })).toMatchObject({ seq: 2 });
    expect(store.healthy()).toBe(true);
    await store.close();
    const records = await readRecords(d);
    expect(records.filter((r) => r.type === 'x').map((r) => r.data)).toEqual([{ i: 0 }, { after: 1 }]);
    expect((await verifyEvidence(d, store.publicKey()!, { requireSignedTail: true })).ok).toBe(true);
  });

  for (const path of flushPaths) {
    it(`a failed ${path.name} write or flush rejects the whole batch, and the batch never comes back`, async () => {
      const d = await dir();
      let failNext: 'write' | 'sync' | undefined;
      const files = faultyFiles(path, {
        write: () => (failNext === 'write' ? ((failNext = undefined), Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })) : undefined),
        sync: () => (failNext === 'sync' ? ((failNext = undefined), Promise.reject(Object.assign(new Error('i/o error'), { code: 'EIO' }))) : undefined),
      });
      const store = await FileEvidenceStore.open(d, { format: 1, ...files, checkpointIntervalMs: 60_000 });
      await store.append('x', { i: 0 });
      const modes = path.name === 'journal' ? (['write', 'sync'] as const) : (['sync'] as const);
      for (const [n, mode] of modes.entries()) {
        failNext = mode;
        const results = await Promise.allSettled([store.append('x', { lost: 1 }), store.append('x', { lost: 2 })]);
        for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'failed_precondition' } });
        expect(store.healthy()).toBe(false);
        const ok = await store.append('x', { after: mode });
        expect(store.healthy()).toBe(true);
        expect(ok.seq).toBe(n + 2);
      }
      // A crash now (no clean close): the log may lose what it had not flushed, and the journal must
      // bring back only what was acknowledged, never the refused batches.
      await store.checkpoint();
      const kept = (await readRecords(d)).filter((r) => r.type === 'x').map((r) => r.data);
      const expected = [{ i: 0 }, ...modes.map((m) => ({ after: m }))];
      expect(kept).toEqual(expected);
      await store.close();
      await writeFile(evidenceLogPath(d), '');
      if (path.name === 'journal') {
        const reopened = await FileEvidenceStore.open(d, { format: 1, checkpointIntervalMs: 60_000 });
        await reopened.close();
        expect((await readRecords(d)).filter((r) => r.type === 'x').map((r) => r.data)).toEqual(expected);
      }
    });

    it(`overlaps ${path.name} flushes: a batch does not wait for the running flush before starting its own`, async () => {
      const d = await dir();
      let running = 0;
      let most = 0;
      const files = faultyFiles(path, {
        sync: () => {
          running++;
          most = Math.max(most, running);
          return new Promise<void>((r) => setTimeout(r, 20)).finally(() => running--);
        },
      });
      const store = await FileEvidenceStore.open(d, { format: 1, ...files, checkpointIntervalMs: 60_000 });
      const acks: Promise<{ seq: number }>[] = [];
      for (let i = 0; i < 6; i++) {
        acks.push(store.append('x', { i }));
        await new Promise((r) => setTimeout(r, 5));
      }
      const seqs = (await Promise.all(acks)).map((a) => a.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(most).toBeGreaterThanOrEqual(2);
      await store.close();
      expect((await verifyEvidence(d, store.publicKey()!, { requireSignedTail: true })).ok).toBe(true);
    });

    it(`a failed ${path.name} flush also refuses every batch written after it, even one whose own flush succeeded`, async () => {
      const d = await dir();
      let failFirst: ((e: Error) => void) | undefined;
      let armed = false;
      const files = faultyFiles(path, {
        sync: () => {
          if (!armed) return undefined;
          armed = false;
          return new Promise<void>((_, reject) => (failFirst = reject));
        },
      });
      const store = await FileEvidenceStore.open(d, { format: 1, ...files, checkpointIntervalMs: 60_000 });
      await store.append('x', { i: 0 });
      armed = true;
      const first = store.append('x', { lost: 1 });
      await new Promise((r) => setTimeout(r, 10));
      const second = store.append('x', { lost: 2 });
      // the second batch's own flush is done; it still waits for the first
      await new Promise((r) => setTimeout(r, 30));
      failFirst!(Object.assign(new Error('i/o error'), { code: 'EIO' }));
      const results = await Promise.allSettled([first, second]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      const after = await store.append('x', { after: 1 });
      expect(after.seq).toBe(2);
      await store.close();
      const records = await readRecords(d);
      expect(records.filter((r) => r.type === 'x').map((r) => r.data)).toEqual([{ i: 0 }, { after: 1 }]);
      expect((await verifyEvidence(d, store.publicKey()!, { requireSignedTail: true })).ok).toBe(true);
    });
  }

  it('writes a checkpoint after the interval even when idle', async () => {
    const d = await dir();
    const store = await FileEvidenceStore.open(d, { format: 1, checkpointEvery: 1000, checkpointIntervalMs: 20 });
    await store.append('x', {});
    await new Promise((r) => setTimeout(r, 150));
    const records = await readRecords(d);
    expect(records.at(-1)?.type).toBe('checkpoint');
    await store.close();
  });

  it('refuses reserved and unencodable records, and appends after close', async () => {
    const d = await dir();
    const store = await FileEvidenceStore.open(d, { format: 1 });
    await expect(store.append('checkpoint', {})).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(store.append('x', { n: 1n })).rejects.toMatchObject({ code: 'invalid_argument' });
    await store.close();
    await expect(store.append('x', {})).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(store.healthy()).toBe(false);
  });

  it('indexes records by type for readers', async () => {
    const d = await dir();
    const store = await FileEvidenceStore.open(d, { format: 1 });
    await Promise.all([store.append('a', { n: 1 }), store.append('b', { n: 2 }), store.append('a', { n: 3 })]);
    await store.close();
    const index = await EvidenceIndex.load(d);
    expect(index.byType('a').map((r) => r.data)).toEqual([{ n: 1 }, { n: 3 }]);
    expect(index.get(2)?.type).toBe('b');
  });
});
