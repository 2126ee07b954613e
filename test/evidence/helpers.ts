import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterEach } from 'vitest';
import { join } from 'node:path';
import { canonical } from '../../runtime/encoding/canonical.ts';
import { recordHash, SEAL, sealBatch, type EvidenceRecord } from '../../runtime/evidence/record.ts';
import { lineCrc } from '../../runtime/evidence/chain.ts';
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
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as EvidenceRecord);
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

/**
 * What a careful attacker does to a log of either format after editing it: every line is parsed
 * (`edit` may change any record), then the whole chain is rebuilt from the first line — v1 records
 * rehashed, v2 batches re-sealed with fresh CRCs — and each checkpoint re-signed with `sign` when
 * given (else only its hash is recomputed, so its signature no longer matches).
 */
export function rebuildLog(lines: readonly string[], edit: (records: Record<string, unknown>[]) => void, sign?: (upTo: number, head: string) => { keyId: string; sig: string }): string[] {
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  edit(records);
  const out: string[] = [];
  let prev = '0'.repeat(64);
  let batch: string[] = [];
  let crcs = '';
  for (const r of records) {
    if (!('hash' in r)) {
      const line = JSON.stringify(r);
      batch.push(line);
      crcs += lineCrc(line);
      continue;
    }
    if (r.type === SEAL) {
      const sealed = sealBatch(batch, r.seq as number, r.ts as string, (r.data as { from: number }).from, crcs, prev);
      out.push(...batch, sealed.line);
      prev = sealed.hash;
      batch = [];
      crcs = '';
      continue;
    }
    r.prev = prev;
    if (r.type === 'checkpoint' && sign) {
      const upTo = (r.seq as number) - 1;
      r.data = { upTo, head: prev, ...sign(upTo, prev) };
    }
    r.hash = recordHash(r as unknown as EvidenceRecord);
    out.push(JSON.stringify(r));
    prev = r.hash as string;
  }
  out.push(...batch);
  return out;
}
