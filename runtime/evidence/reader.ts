/**
 * Reading the log without verifying it (verification is `verifyEvidence`): for `portcullis sessions`,
 * recordings export and reports. A final unterminated line is an interrupted write and is skipped.
 *
 * Both formats read as the same logical records: a v2 record comes out with its references put back
 * (refs.ts), the results folded into it as `result` records just before it, and the prev and hash
 * of the seal that covers it; seals and facts themselves are not records of the session's story and
 * are not returned, nor are v2 records no seal covers yet (a batch still being written, or cut).
 */
import { PortcullisError } from '../errors.ts';
import { readLines } from './lines.ts';
import { FACT, isFactData, parseRecord, SEAL, type EvidenceRecord, type LogRecord } from './record.ts';
import { expandRefs } from './refs.ts';
import { evidenceLogPath } from './store.ts';

export async function* readEvidence(dir: string, opts: { types?: readonly string[] } = {}): AsyncGenerator<EvidenceRecord> {
  const types = opts.types ? new Set(opts.types) : undefined;
  const path = evidenceLogPath(dir);
  let lines: AsyncGenerator<{ text: string; terminated: boolean }>;
  /** fact values by the seq of the record that holds them */
  const facts = new Map<number, unknown>();
  let batch: LogRecord[] = [];
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
      if (!record.chained) {
        if (record.type === FACT && isFactData(record.data)) facts.set(record.seq, record.data.value);
        batch.push(record);
        continue;
      }
      if (record.type === SEAL) {
        const sealed = batch;
        batch = [];
        for (const r of sealed) {
          if (r.type === FACT) continue;
          for (const result of r.res ?? []) {
            if (!types || types.has('result')) yield { seq: r.seq, ts: r.ts, type: 'result', data: result, prev: record.prev, hash: record.hash };
          }
          if (types && !types.has(r.type)) continue;
          yield { seq: r.seq, ts: r.ts, type: r.type, data: r.refs ? expandRefs(r.data, resolve(r.refs, facts, path, r.seq)) : r.data, prev: record.prev, hash: record.hash };
        }
        continue;
      }
      if (!types || types.has(record.type)) yield logical(record);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PortcullisError('not_found', `no evidence log at ${path}`, { cause: error });
    }
    throw error;
  }
}

function logical(r: LogRecord): EvidenceRecord {
  return { seq: r.seq, ts: r.ts, type: r.type, data: r.data, prev: r.prev, hash: r.hash };
}

function resolve(refs: Record<string, number>, facts: Map<number, unknown>, path: string, seq: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const member in refs) {
    const at = refs[member] as number;
    if (!facts.has(at)) {
      throw new PortcullisError('tampered', `evidence log ${path}: record ${seq} references fact ${at}, which the log does not hold`, {
        details: { hint: 'run `portcullis evidence verify` to find where it was damaged' },
      });
    }
    // A copy per record: one record's reader changing its data must not change another's.
    out[member] = structuredClone(facts.get(at));
  }
  return out;
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
