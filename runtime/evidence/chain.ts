/**
 * Checks records one by one against the hash chain and the checkpoint signatures. Shared by
 * `verifyEvidence` (whole log) and the store's resume (the tail after the last checkpoint), so there
 * is one definition of "intact".
 */
import type { KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { canonical } from '../encoding/canonical.ts';
import { PortcullisError } from '../errors.ts';
import { CHECKPOINT, checkpointMessage, FACT, GENESIS, isCheckpointData, isFactData, isSealData, KEY_ROTATED, recordHash, SEAL, sealHash, type EvidenceRecord, type LogRecord } from './record.ts';
import { verifyMessage } from './keys.ts';

/** A record as the checker takes it: v1 (chained) by default, or a v2 line waiting for its seal. */
export type CheckedRecord = EvidenceRecord & Partial<Pick<LogRecord, 'chained' | 'refs'>>;

/** CRC-32 of a v2 record line as its seal lists it. */
export function lineCrc(line: string): string {
  return crc32(line).toString(16).padStart(8, '0');
}

export type ProblemKind = 'edited' | 'removed' | 'reordered' | 'bad-signature' | 'truncated' | 'cut';

export interface EvidenceProblem {
  seq: number;
  kind: ProblemKind;
  message: string;
}

export interface ChainStart {
  /** seq of the last record before the first one pushed (0 at the beginning of the log) */
  seq: number;
  hash: string;
}

export class ChainChecker {
  /** the next seq expected */
  expected: number;
  head: string;
  records = 0;
  checkpoints = 0;
  /** records (not checkpoints) since the last checkpoint */
  sinceCheckpoint = 0;
  lastCheckpointSeq = 0;
  private readonly publicKey: KeyObject | undefined;
  private readonly keyId: string | undefined;
  /** the pinned keys, by key id: a chain signed by any of them, changing only at a key.rotated record */
  private readonly keys: ReadonlyMap<string, KeyObject> | undefined;
  /** the key the chain's checkpoints are signed with now, and the one a key.rotated record announced */
  signingKeyId: string | undefined;
  private announcedKeyId: string | undefined;
  /** v2 record lines read since the last seal */
  private pending: { seq: number; line: string }[] = [];
  /** seq of the last chained record (v1 record, seal or checkpoint): `head` is its hash */
  private chainedSeq: number;
  /** fact ids defined so far, when references are checked (whole-log verification only) */
  private readonly facts: Set<number> | undefined;

  /** Without a key, checkpoint signatures are not checked (resume with a rotated-out key). */
  constructor(opts: { publicKey?: KeyObject; keyId?: string; keys?: ReadonlyMap<string, KeyObject>; start?: ChainStart; facts?: Set<number> } = {}) {
    this.facts = opts.facts;
    this.chainedSeq = opts.start?.seq ?? 0;
    this.publicKey = opts.publicKey;
    this.keyId = opts.keyId;
    this.keys = opts.keys;
    this.expected = (opts.start?.seq ?? 0) + 1;
    this.head = opts.start?.hash ?? GENESIS;
    this.lastCheckpointSeq = opts.start?.seq ?? 0;
  }

  /**
   * Checks the next record in file order. On a seq mismatch the caller decides between 'removed'
   * and 'reordered' with `seqProblem`, since that needs the rest of the log.
   */
  push(record: CheckedRecord, line?: string): EvidenceProblem | 'seq-mismatch' | undefined {
    if (record.seq !== this.expected) return 'seq-mismatch';
    const seq = record.seq;
    if (record.chained === false) return this.pushUnchained(record, line);
    if (record.type === SEAL) {
      const problem = this.checkSeal(record);
      if (problem) return problem;
    } else if (this.pending.length > 0) {
      const from = (this.pending[0] as { seq: number }).seq;
      return { seq: from, kind: 'edited', message: `records ${from}..${seq - 1} have no seal: record ${seq} stands where their seal belongs` };
    } else if (recordHash(record) !== record.hash) {
      return { seq, kind: 'edited', message: `record ${seq} was edited: its content does not match its hash` };
    }
    if (record.prev !== this.head) {
      return { seq, kind: 'edited', message: `record ${seq} does not link to record ${seq - 1}: the chain was rewritten or spliced here` };
    }
    if (record.type === CHECKPOINT) {
      const problem = this.checkCheckpoint(record);
      if (problem) return problem;
      this.checkpoints++;
      this.sinceCheckpoint = 0;
      this.lastCheckpointSeq = seq;
    } else {
      if (record.type === KEY_ROTATED) this.announcedKeyId = String((record.data as { to?: unknown } | null)?.to ?? '');
      this.sinceCheckpoint++;
    }
    this.records++;
    this.expected = seq + 1;
    this.head = record.hash;
    this.chainedSeq = seq;
    return undefined;
  }

  /** v2 records read since the last seal (0 at a batch boundary) */
  pendingCount(): number {
    return this.pending.length;
  }

  /** the last chained record: where a checker for what follows starts */
  sealedHead(): ChainStart {
    return { seq: this.chainedSeq, hash: this.head };
  }

  /** A problem for v2 records the log ends with and no seal covers (an interrupted write, or a cut). */
  unsealedProblem(): EvidenceProblem | undefined {
    const first = this.pending[0];
    if (!first) return undefined;
    const last = this.expected - 1;
    return {
      seq: first.seq,
      kind: 'truncated',
      message: `record${last > first.seq ? `s ${first.seq}..${last} have` : ` ${first.seq} has`} no seal: the log ends before its batch was sealed (an interrupted write or a cut file)`,
    };
  }

  private pushUnchained(record: CheckedRecord, line: string | undefined): EvidenceProblem | undefined {
    if (line === undefined) throw new PortcullisError('internal', 'a v2 evidence record is checked without its line');
    const seq = record.seq;
    if (this.facts && record.refs) {
      for (const id of Object.values(record.refs)) {
        if (id >= seq || !this.facts.has(id)) return { seq, kind: 'removed', message: `record ${seq} references fact ${id}, which no earlier record defines: the record that defined it was removed` };
      }
    }
    if (this.facts && record.type === FACT && isFactData(record.data)) this.facts.add(seq);
    if (record.type === KEY_ROTATED) this.announcedKeyId = String((record.data as { to?: unknown } | null)?.to ?? '');
    this.pending.push({ seq, line });
    this.expected = seq + 1;
    return undefined;
  }

  /** A seal closes the v2 records read since the last chained record: all of them, in order, byte for byte. */
  private checkSeal(record: CheckedRecord): EvidenceProblem | undefined {
    const seq = record.seq;
    const pending = this.pending;
    const data = record.data;
    const from = pending[0]?.seq ?? seq;
    if (!isSealData(data) || pending.length === 0) {
      return { seq, kind: 'edited', message: `seal ${seq} is malformed or seals no records` };
    }
    if (data.from !== from || data.crc.length !== pending.length * 8) {
      return {
        seq: from,
        kind: 'edited',
        message: `records ${from}..${seq - 1} do not match the batch seal ${seq} describes (records ${data.from}..${seq - 1}): records were renumbered or the seal edited`,
      };
    }
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i] as { seq: number; line: string };
      if (lineCrc(p.line) !== data.crc.slice(i * 8, i * 8 + 8)) {
        return { seq: p.seq, kind: 'edited', message: `record ${p.seq} was edited: its content does not match its batch's seal (record ${seq})` };
      }
    }
    const lines = pending.length === 1 ? (pending[0] as { line: string }).line : pending.map((p) => p.line).join('\n');
    if (sealHash(lines, seq, record.ts, canonical(data), record.prev) !== record.hash) {
      return { seq: from, kind: 'edited', message: `records ${from}..${seq} were edited: the batch does not match its seal's hash (a record together with its CRC, or the seal itself, was changed)` };
    }
    if (record.prev !== this.head) {
      return { seq: from, kind: 'edited', message: `records ${from}..${seq} do not link to record ${this.chainedSeq}: the chain was rewritten or spliced here` };
    }
    this.records += pending.length;
    this.sinceCheckpoint += pending.length;
    this.pending = [];
    return undefined;
  }

  private checkCheckpoint(record: EvidenceRecord): EvidenceProblem | undefined {
    const seq = record.seq;
    const data = record.data;
    if (!isCheckpointData(data)) {
      return { seq, kind: 'bad-signature', message: `checkpoint ${seq} is malformed (needs upTo, head, keyId, sig)` };
    }
    const from = this.lastCheckpointSeq + 1;
    if (data.upTo !== seq - 1 || data.head !== record.prev) {
      return {
        seq: Math.min(from, seq),
        kind: 'edited',
        message: `records ${from}..${seq - 1} were rewritten after checkpoint ${seq} signed them: the signed head does not match the chain`,
      };
    }
    if (this.keyId !== undefined && data.keyId !== this.keyId) {
      return { seq, kind: 'bad-signature', message: `checkpoint ${seq} names key ${data.keyId}, not the verification key ${this.keyId}` };
    }
    if (this.publicKey && !verifyMessage(this.publicKey, checkpointMessage(data.upTo, data.head), data.sig)) {
      return { seq, kind: 'bad-signature', message: `checkpoint ${seq} has an invalid signature over records up to ${data.upTo}` };
    }
    if (this.keys) {
      const key = this.keys.get(data.keyId);
      if (!key) return { seq, kind: 'bad-signature', message: `checkpoint ${seq} is signed by key ${data.keyId}, which is not a pinned verification key` };
      if (!verifyMessage(key, checkpointMessage(data.upTo, data.head), data.sig)) {
        return { seq, kind: 'bad-signature', message: `checkpoint ${seq} has an invalid signature over records up to ${data.upTo}` };
      }
      // A key changes only where the chain says so: a key.rotated record naming the new key.
      if (this.signingKeyId !== undefined && data.keyId !== this.signingKeyId && data.keyId !== this.announcedKeyId) {
        return {
          seq,
          kind: 'bad-signature',
          message: `checkpoint ${seq} is signed by key ${data.keyId}, but the chain was signed by ${this.signingKeyId} and no key.rotated record announces the change`,
        };
      }
    }
    this.signingKeyId = data.keyId;
    this.announcedKeyId = undefined;
    return undefined;
  }

  /** Classifies a seq mismatch: `laterSeqs` reports whether the expected seq occurs later in the log. */
  seqProblem(found: number, expectedOccursLater: boolean): EvidenceProblem {
    const seq = this.expected;
    if (found > seq && !expectedOccursLater) {
      const last = found - 1;
      return { seq, kind: 'removed', message: `record${last > seq ? `s ${seq}..${last} were` : ` ${seq} was`} removed (record ${found} follows record ${seq - 1})` };
    }
    return { seq, kind: 'reordered', message: `records are out of order: record ${found} appears where record ${seq} belongs` };
  }
}
