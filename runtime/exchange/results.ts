/**
 * Results and sessions of exchanges, written through the recorder by the core so no protocol folder
 * touches the evidence store. A result is what happened once the agent had its answer; it is never
 * thrown (failures are logged), and it may wait to share a group commit with the next decision.
 */
import type { RecordResult, Recorder, StartSession } from '../recording/recorder.ts';

/** The recorder calls for sessions and results, beside the decision calls of ExchangeEnv. */
export type SessionRecorder = Pick<Recorder, 'startSession' | 'recordResult' | 'endSession'> & Partial<Pick<Recorder, 'queueResult'>>;

export interface ResultEnv {
  recorder: SessionRecorder;
  log(event: string, fields?: Record<string, unknown>): void;
  metrics?: { observeMasked(target: string, count: number): void };
}

/** Which decision a result belongs to (an Allowed's evidence, or a Refused's `recorded`). */
export interface ResultOf {
  sessionId: string;
  seq: number;
  /** the target, for the masked-values metric */
  target?: string;
}

export type Outcome = Omit<RecordResult, 'sessionId' | 'seq'>;

/** Opens a recorded session; resolves with its id once the start record is written. */
export function openSession(env: ResultEnv, start: StartSession): Promise<string> {
  return env.recorder.startSession(start).then((r) => r.sessionId);
}

/** Ends a recorded session; logged, never thrown. */
export async function endSession(env: ResultEnv, sessionId: string, reason: string): Promise<void> {
  try {
    await env.recorder.endSession({ sessionId, reason });
  } catch (error) {
    env.log('exchange.session-end-failed', { error: String(error) });
  }
}

/** Records a result now; resolves once written (or the failure logged). */
export async function recordResult(env: ResultEnv, of: ResultOf | undefined, outcome: Outcome): Promise<void> {
  if (!of) return;
  if (of.target !== undefined) env.metrics?.observeMasked(of.target, outcome.maskedValues ?? 0);
  try {
    await env.recorder.recordResult({ sessionId: of.sessionId, seq: of.seq, ...outcome });
  } catch (error) {
    env.log('exchange.result-not-recorded', { error: String(error) });
  }
}

/** longest a queued result waits for a decision record to share a group commit with */
const RESULT_DELAY_MS = 10;

interface ResultQueue {
  items: RecordResult[];
  timer: NodeJS.Timeout | undefined;
  /** logs a queued result that could not be written (made once per queue, not per result) */
  failed: (error: unknown) => void;
}

const resultQueues = new WeakMap<object, ResultQueue>();

/**
 * Queues a result to be written with the next decision (the core flushes the queue right before
 * each decision record), or after at most 10 ms: a result is written after the agent has its answer
 * anyway, and a write and flush of its own would hold up the next decision behind it.
 */
export function queueResult(env: ResultEnv, of: ResultOf | undefined, outcome: Outcome): void {
  if (!of) return;
  if (of.target !== undefined) env.metrics?.observeMasked(of.target, outcome.maskedValues ?? 0);
  let q = resultQueues.get(env);
  if (!q) {
    q = { items: [], timer: undefined, failed: (error: unknown) => env.log('exchange.result-not-recorded', { error: String(error) }) };
    resultQueues.set(env, q);
  }
  q.items.push({ sessionId: of.sessionId, seq: of.seq, ...outcome });
  q.timer ??= setTimeout(() => void flushResults(env), RESULT_DELAY_MS);
}

/** Appends the queued results; resolves once they are recorded (failures are logged). */
export function flushResults(env: object): Promise<void> {
  const q = resultQueues.get(env);
  if (!q || q.items.length === 0) return Promise.resolve();
  return Promise.all(appendQueued(env as ResultEnv, q)).then(ignore);
}

/**
 * The core's flush right before each decision record: nothing awaits it, so it makes no promise of
 * its own (and nothing at all when the queue is empty, the common case).
 */
export function flushQueuedResults(env: object): void {
  const q = resultQueues.get(env);
  if (!q || q.items.length === 0) return;
  const recorder = (env as ResultEnv).recorder;
  if (!recorder.queueResult) {
    appendQueued(env as ResultEnv, q);
    return;
  }
  if (q.timer) clearTimeout(q.timer);
  q.timer = undefined;
  const items = q.items;
  q.items = [];
  for (const r of items) recorder.queueResult(r, q.failed);
}

function appendQueued(e: ResultEnv, q: ResultQueue): Promise<void>[] {
  if (q.timer) clearTimeout(q.timer);
  q.timer = undefined;
  const items = q.items;
  q.items = [];
  const written: Promise<void>[] = [];
  for (const r of items) {
    written.push(
      e.recorder.recordResult(r).then(ignore, (error: unknown) => {
        e.log('exchange.result-not-recorded', { error: String(error) });
      }),
    );
  }
  return written;
}

function ignore(): undefined {
  return undefined;
}
