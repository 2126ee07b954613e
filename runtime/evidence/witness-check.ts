/**
 * Judges a log against its head witness. A witnessed head must be in the log with the same hash:
 * a head past the log's end means the log was cut (the range is named), a head with another hash
 * means the log was rewritten from there on (re-signing with a key found on the host does not help:
 * the witness kept the original hash). Records after the last witnessed head are the only ones a
 * cut can remove unnoticed; the store bounds them by checkpointing at least once a second.
 */
import { existsSync } from 'node:fs';
import type { EvidenceProblem } from './chain.ts';
import { readWitness } from './witness.ts';

export interface WitnessStatus {
  path: string;
  /** ok: every witnessed head is in the log; cut / rewritten: it is not; missing / damaged: no usable witness */
  state: 'ok' | 'cut' | 'rewritten' | 'missing' | 'damaged' | 'not-checked';
  /** heads in the witness */
  heads: number;
  lastWitnessedSeq?: number;
  lastWitnessedAt?: string;
  /** records after the last witnessed head: the part of the log the witness does not yet anchor */
  unanchoredTail?: number;
  message: string;
  /** the problem to report (removed from the status before it is returned to callers) */
  problem?: EvidenceProblem;
}

export interface LogSummary {
  /** seq of the log's last record (the journal's included) */
  lastSeq: number;
  /** hash by seq of every checkpoint record of the log */
  checkpoints: ReadonlyMap<number, string>;
  chainHasCheckpoints: boolean;
}

export async function checkWitness(path: string, log: LogSummary): Promise<WitnessStatus> {
  if (!existsSync(path)) {
    // A log with checkpoints was written by a gateway that had a witness: its loss is a finding.
    if (!log.chainHasCheckpoints) return { path, state: 'ok', heads: 0, message: 'no heads witnessed yet (the log has no checkpoint)' };
    return {
      path,
      state: 'missing',
      heads: 0,
      message: `the witness ${path} does not exist: a cut of the log cannot be ruled out`,
      problem: {
        seq: log.lastSeq + 1,
        kind: 'cut',
        message: `the head witness ${path} is missing, so a cut of the log cannot be ruled out (pass --witness with its location, or --no-witness to check the chain alone)`,
      },
    };
  }
  let heads = 0;
  let last: { seq: number; ts: string } | undefined;
  let firstCut: { seq: number; ts: string } | undefined;
  for await (const head of readWitness(path)) {
    if ('invalid' in head) {
      return {
        path,
        state: 'damaged',
        heads,
        message: `the witness ${path} holds a line that is not a head`,
        problem: { seq: log.lastSeq + 1, kind: 'cut', message: `the head witness ${path} was damaged (a line is not a head: ${JSON.stringify(head.invalid)})` },
      };
    }
    heads++;
    if (!last || head.seq > last.seq) last = { seq: head.seq, ts: head.ts };
    if (head.seq > log.lastSeq) {
      firstCut ??= { seq: head.seq, ts: head.ts };
      continue;
    }
    const hash = log.checkpoints.get(head.seq);
    if (hash !== head.hash) {
      const message =
        hash === undefined
          ? `record ${head.seq} was a checkpoint witnessed at ${head.ts}, but is not one in the log: the log was rewritten up to there`
          : `checkpoint ${head.seq} differs from the one witnessed at ${head.ts}: the log was rewritten (and re-signed) up to there`;
      return { path, state: 'rewritten', heads, lastWitnessedSeq: head.seq, lastWitnessedAt: head.ts, message, problem: { seq: head.seq, kind: 'edited', message } };
    }
  }
  if (last && firstCut) {
    const message = `records ${log.lastSeq + 1}..${last.seq} are missing: the witness saw the chain reach record ${last.seq} at ${last.ts}, the log ends at record ${log.lastSeq}`;
    return { path, state: 'cut', heads, lastWitnessedSeq: last.seq, lastWitnessedAt: last.ts, message, problem: { seq: log.lastSeq + 1, kind: 'cut', message } };
  }
  if (!last && log.chainHasCheckpoints) {
    const message = `the witness ${path} is empty though the log has checkpoints: a cut of the log cannot be ruled out`;
    return { path, state: 'missing', heads, message, problem: { seq: log.lastSeq + 1, kind: 'cut', message } };
  }
  return {
    path,
    state: 'ok',
    heads,
    ...(last ? { lastWitnessedSeq: last.seq, lastWitnessedAt: last.ts, unanchoredTail: log.lastSeq - last.seq } : {}),
    message: last ? `every witnessed head is in the log; the last, record ${last.seq}, was witnessed at ${last.ts}` : 'no heads witnessed yet',
  };
}
