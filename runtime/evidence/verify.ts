/**
 * `portcullis evidence verify`: replays the whole log against the hash chain and the checkpoint
 * signatures and names the first record where it breaks.
 */
import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { PortcullisError } from '../errors.ts';
import { ChainChecker, type EvidenceProblem } from './chain.ts';
import { keyIdOf, toPublicKey } from './keys.ts';
import { readLines } from './lines.ts';
import { parseRecord } from './record.ts';
import { evidenceLogPath } from './store.ts';
import { journalTail } from './journal.ts';

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
}

export interface VerifyEvidenceOptions {
  /** treat records after the last checkpoint as a problem (a cleanly closed store ends in a checkpoint) */
  requireSignedTail?: boolean;
}

export async function verifyEvidence(
  dir: string,
  publicKey: KeyObject | string,
  opts: VerifyEvidenceOptions = {},
): Promise<EvidenceVerification> {
  const key = toPublicKey(publicKey);
  const path = evidenceLogPath(dir);
  try {
    await stat(path);
  } catch (cause) {
    throw new PortcullisError('not_found', `no evidence log at ${path}`, { cause });
  }
  const checker = new ChainChecker({ publicKey: key, keyId: keyIdOf(key) });
  const lines = readLines(path);
  let problem: EvidenceProblem | undefined;

  for await (const { text, terminated } of lines) {
    const record = parseRecord(text);
    if (!record) {
      problem = terminated
        ? { seq: checker.expected, kind: 'edited', message: `the line where record ${checker.expected} belongs is not a valid record` }
        : { seq: checker.expected, kind: 'truncated', message: `the log ends in the middle of record ${checker.expected} (an interrupted write or a cut file)` };
      break;
    }
    const result = checker.push(record);
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
  }

  let journalOnly = 0;
  if (!problem) {
    const tail = new ChainChecker({ publicKey: key, keyId: keyIdOf(key), start: { seq: checker.expected - 1, hash: checker.head } });
    journalOnly = (await journalTail(dir, tail)).length;
  }
  if (!problem && opts.requireSignedTail && checker.sinceCheckpoint > 0) {
    problem = {
      seq: checker.lastCheckpointSeq + 1,
      kind: 'truncated',
      message: `the last ${checker.sinceCheckpoint} records are not covered by a checkpoint: the store did not close cleanly or its tail was cut`,
    };
  }
  return {
    ok: problem === undefined,
    records: checker.records,
    checkpoints: checker.checkpoints,
    lastCheckpointSeq: checker.lastCheckpointSeq,
    unsignedTail: checker.sinceCheckpoint,
    ...(journalOnly > 0 ? { journalOnly } : {}),
    ...(problem ? { firstProblem: problem } : {}),
  };
}
