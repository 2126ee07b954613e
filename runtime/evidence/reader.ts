/**
 * Reading the log without verifying it (verification is `verifyEvidence`): for `portcullis sessions`,
 * recordings export and reports. A final unterminated line is an interrupted write and is skipped.
 */
import { PortcullisError } from '../errors.ts';
import { readLines } from './lines.ts';
import { parseRecord, type EvidenceRecord } from './record.ts';
import { evidenceLogPath } from './store.ts';

export async function* readEvidence(dir: string, opts: { types?: readonly string[] } = {}): AsyncGenerator<EvidenceRecord> {
  const types = opts.types ? new Set(opts.types) : undefined;
  const path = evidenceLogPath(dir);
  let lines: AsyncGenerator<{ text: string; terminated: boolean }>;
  try {
    lines = readLines(path);
    for await (const { text, terminated } of lines) {
      const record = parseRecord(text);
      if (!record) {
        if (!terminated) return;
        throw new PortcullisError('tampered', `evidence log ${path} holds a line that is not a record`, {
          details: { hint: 'run `portcullis evidence verify` to find where it was damaged' },
        });
      }
      if (!types || types.has(record.type)) yield record;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PortcullisError('not_found', `no evidence log at ${path}`, { cause: error });
    }
    throw error;
  }
}

/** All records in memory, indexed by type and seq. */
export class EvidenceIndex {
  private readonly records: EvidenceRecord[];
  private readonly types = new Map<string, EvidenceRecord[]>();
  private readonly bySeq = new Map<number, EvidenceRecord>();

  private constructor(records: EvidenceRecord[]) {
    this.records = records;
    for (const r of records) {
      this.bySeq.set(r.seq, r);
      const list = this.types.get(r.type);
      if (list) list.push(r);
      else this.types.set(r.type, [r]);
    }
  }

  static async load(dir: string, opts: { types?: readonly string[] } = {}): Promise<EvidenceIndex> {
    const records: EvidenceRecord[] = [];
    for await (const r of readEvidence(dir, opts)) records.push(r);
    return new EvidenceIndex(records);
  }

  all(): readonly EvidenceRecord[] {
    return this.records;
  }

  byType<T = unknown>(type: string): readonly EvidenceRecord<T>[] {
    return (this.types.get(type) ?? []) as EvidenceRecord<T>[];
  }

  get(seq: number): EvidenceRecord | undefined {
    return this.bySeq.get(seq);
  }
}
