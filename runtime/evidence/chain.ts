/**
 * Checks records one by one against the hash chain and the checkpoint signatures. Shared by
 * `verifyEvidence` (whole log) and the store's resume (the tail after the last checkpoint), so there
 * is one definition of "intact".
 */
import type { KeyObject } from 'node:crypto';
import { CHECKPOINT, checkpointMessage, GENESIS, isCheckpointData, KEY_ROTATED, recordHash, type EvidenceRecord } from './record.ts';
import { verifyMessage } from './keys.ts';

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

  /** Without a key, checkpoint signatures are not checked (resume with a rotated-out key). */
  constructor(opts: { publicKey?: KeyObject; keyId?: string; keys?: ReadonlyMap<string, KeyObject>; start?: ChainStart } = {}) {
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
  push(record: EvidenceRecord): EvidenceProblem | 'seq-mismatch' | undefined {
    if (record.seq !== this.expected) return 'seq-mismatch';
    const seq = record.seq;
    if (recordHash(record) !== record.hash) {
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
        return { seq, kind: 'bad-signature', message: `checkpoint ${seq} is signed by key ${data.keyId}, but the chain was signed by ${this.signingKeyId} and no key.rotated record announces the change` };
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
