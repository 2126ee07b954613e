/**
 * `portcullis evidence verify`: replays the whole log against the hash chain and the checkpoint
 * signatures (by the pinned keys only), then against the head witness kept outside the evidence
 * directory, and names the first record where it breaks — or the range a cut removed.
 */
import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { PortcullisError } from '../errors.ts';
import { ChainChecker, type EvidenceProblem } from './chain.ts';
import { keyIdOf, toPublicKey } from './keys.ts';
import { readLines } from './lines.ts';
import { CHECKPOINT, parseRecord } from './record.ts';
import { evidenceLogPath } from './store.ts';
import { journalTail } from './journal.ts';
import { checkWitness, type WitnessStatus } from './witness-check.ts';

export interface EvidenceVerification {
  ok: boolean;
  /** records checked and found intact, checkpoints included */
  records: number;
  checkpoints: number;
  /** seq of the last valid checkpoint (0: none) */
  lastCheckpointSeq: number;
  /** intact records after the last checkpoint: covered by the chain but not yet by a signature */
  unsignedTail: number;
  /**
   * records after the log's last one that only `evidence.journal` holds: acknowledged, then lost from
   * the log's page cache in a host crash; the gateway appends them when it next starts
   */
  journalOnly?: number;
  firstProblem?: EvidenceProblem;
  /** what the head witness says about the log; absent when no witness was consulted */
  witness?: WitnessStatus;
}

export interface VerifyEvidenceOptions {
  /** treat records after the last checkpoint as a problem (a cleanly closed store ends in a checkpoint) */
  requireSignedTail?: boolean;
  /** the head witness file to check the log against (see witness.ts) */
  witness?: string;
}

export async function verifyEvidence(dir: string, publicKeys: KeyObject | string | readonly (KeyObject | string)[], opts: VerifyEvidenceOptions = {}): Promise<EvidenceVerification> {
  const keys = new Map<string, KeyObject>();
  for (const k of Array.isArray(publicKeys) ? publicKeys : [publicKeys]) {
    const key = toPublicKey(k as KeyObject | string);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new PortcullisError('invalid_argument', 'verification needs at least one public key');
  const path = evidenceLogPath(dir);
  try {
    await stat(path);
  } catch (cause) {
    throw new PortcullisError('not_found', `no evidence log at ${path}`, { cause });
  }
  // Fact ids seen so far: a v2 record referencing one no earlier record defines is reported.
  const facts = new Set<number>();
  const checker = new ChainChecker({ keys, facts });
  const lines = readLines(path);
  let problem: EvidenceProblem | undefined;
  /** hash by seq of the checkpoints seen, for the witness to compare against */
  const checkpointHashes = new Map<number, string>();

  for await (const { text, terminated } of lines) {
    const record = parseRecord(text);
    if (!record) {
      problem = terminated
        ? { seq: checker.expected, kind: 'edited', message: `the line where record ${checker.expected} belongs is not a valid record` }
        : { seq: checker.expected, kind: 'truncated', message: `the log ends in the middle of record ${checker.expected} (an interrupted write or a cut file)` };
      break;
    }
    const result = checker.push(record, text);
    if (result === 'seq-mismatch') {
      let later = false;
      if (record.seq > checker.expected) {
        for await (const rest of lines) {
          if (parseRecord(rest.text)?.seq === checker.expected) {
            later = true;
            break;
          }
        }
      }
      problem = checker.seqProblem(record.seq, later);
      break;
    }
    if (result) {
      problem = result;
      break;
    }
    if (record.type === CHECKPOINT) checkpointHashes.set(record.seq, record.hash);
  }

  let journalOnly = 0;
  // From the last seal: v2 records the log ends with unsealed may come back whole from the journal.
  const tail = new ChainChecker({ keys, facts, start: checker.sealedHead() });
  let journalLines: string[] = [];
  /** v2 records at the end no seal covers: reported unless the witness has a worse story (a cut) */
  let unsealedTail: EvidenceProblem | undefined;
  if (!problem) {
    journalLines = await journalTail(dir, tail);
    const unsealed = checker.pendingCount();
    journalOnly = Math.max(0, journalLines.length - unsealed);
    if (unsealed > 0 && journalLines.length < unsealed) unsealedTail = checker.unsealedProblem();
  }
  if (!problem) {
    for (const line of journalLines) {
      const r = parseRecord(line);
      if (r?.type === CHECKPOINT) checkpointHashes.set(r.seq, r.hash);
    }
    // The witness is judged against the log as the gateway will resume it (log, then journal).
    if (opts.witness !== undefined) {
      const lastSeq = tail.sealedHead().seq;
      const witness = await checkWitness(opts.witness, { lastSeq, checkpoints: checkpointHashes, chainHasCheckpoints: checker.checkpoints + tail.checkpoints > 0 });
      const witnessProblem = witness.problem;
      delete witness.problem;
      return finish(checker, journalOnly, witnessProblem ?? unsealedTail ?? unsignedProblem(checker, opts), witness);
    }
  }
  const witness = opts.witness !== undefined ? { path: opts.witness, state: 'not-checked' as const, heads: 0, message: 'not checked: the chain itself fails verification' } : undefined;
  return finish(checker, journalOnly, problem ?? unsealedTail ?? unsignedProblem(checker, opts), problem ? witness : undefined);
}

function unsignedProblem(checker: ChainChecker, opts: VerifyEvidenceOptions): EvidenceProblem | undefined {
  if (!opts.requireSignedTail || checker.sinceCheckpoint === 0) return undefined;
  return {
    seq: checker.lastCheckpointSeq + 1,
    kind: 'truncated',
    message: `the last ${checker.sinceCheckpoint} records are not covered by a checkpoint: the store did not close cleanly or its tail was cut`,
  };
}

function finish(checker: ChainChecker, journalOnly: number, problem: EvidenceProblem | undefined, witness?: WitnessStatus): EvidenceVerification {
  return {
    ok: problem === undefined,
    records: checker.records,
    checkpoints: checker.checkpoints,
    lastCheckpointSeq: checker.lastCheckpointSeq,
    unsignedTail: checker.sinceCheckpoint,
    ...(journalOnly > 0 ? { journalOnly } : {}),
    ...(problem ? { firstProblem: problem } : {}),
    ...(witness ? { witness } : {}),
  };
}
