import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonical } from '../../runtime/evidence/canonical.ts';
import { recordHash, type EvidenceRecord } from '../../runtime/evidence/record.ts';
import { evidenceLogPath } from '../../runtime/evidence/store.ts';

export async function tempDir(prefix = 'pc-evidence-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
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
