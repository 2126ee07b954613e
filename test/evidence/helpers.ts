import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterEach } from 'vitest';
import { join } from 'node:path';
import { canonical } from '../../runtime/evidence/canonical.ts';
import { recordHash, type EvidenceRecord } from '../../runtime/evidence/record.ts';
import { evidenceLogPath, type FileEvidenceStoreOptions } from '../../runtime/evidence/store.ts';
import { openLogFile, type OpenLogFile } from '../../runtime/evidence/log-file.ts';
import { openJournalFile, type OpenJournalFile } from '../../runtime/evidence/journal.ts';

export async function tempDir(prefix = 'pc-evidence-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A fresh directory per call, removed after each test of the file that calls this at its top level. */
export function scratchDirs(): () => Promise<string> {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()?.();
  });
  return async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    return t.dir;
  };
}

export async function readRecords(dir: string): Promise<EvidenceRecord[]> {
  const text = await readFile(evidenceLogPath(dir), 'utf8');
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as EvidenceRecord);
}

export async function writeRecords(dir: string, records: EvidenceRecord[]): Promise<void> {
  await writeFile(evidenceLogPath(dir), records.map((r) => `${canonical(r)}\n`).join(''));
}

/** What a careful attacker does after an edit: recompute prev/hash of every record from `from` on. */
export function rehashFrom(records: EvidenceRecord[], fromIndex: number): void {
  for (let i = fromIndex; i < records.length; i++) {
    const r = records[i] as EvidenceRecord;
    if (i > 0) r.prev = (records[i - 1] as EvidenceRecord).hash;
    r.hash = recordHash(r);
  }
}

/**
 * The evidence store's files on a disk the test can break: `fail(error)` makes every write
 * (`writes`) or only every flush fail, on both the log and the journal batches are flushed through.
 */
export function breakableDisk(): {
  evidence: Pick<FileEvidenceStoreOptions, 'openFile' | 'openJournal'>;
  fail(error: (() => Error) | undefined, what?: 'writes' | 'flushes'): void;
} {
  let broken: { error: () => Error; what: 'writes' | 'flushes' } | undefined;
  const check = (op: 'write' | 'flush') => {
    if (broken && (op === 'flush' || broken.what === 'writes')) throw broken.error();
  };
  const openFile: OpenLogFile = async (path) => {
    const f = await openLogFile(path);
    return { ...f, append: async (b) => (check('write'), f.append(b)), sync: async () => (check('flush'), f.sync()) };
  };
  const openJournal: OpenJournalFile = async (path) => {
    const f = await openJournalFile(path);
    return { ...f, writeAt: async (b, at) => (check('write'), f.writeAt(b, at)), sync: async () => (check('flush'), f.sync()) };
  };
  return {
    evidence: { openFile, openJournal },
    fail(error, what = 'flushes') {
      broken = error ? { error, what } : undefined;
    },
  };
}
