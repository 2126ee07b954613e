/**
 * Records sessions through the evidence store. The gateway awaits `recordDecision` before it forwards
 * a request to the backend ("audit before action"): the promise resolves only once the record is
 * durable, and rejects (`failed_precondition`) when it cannot be, in which case the request must be
 * refused.
 */
import { randomUUID } from 'node:crypto';
import { PortcullisError } from '../errors.ts';
import type { Decision } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { EvidenceStore } from '../evidence/store.ts';
import {
  DECISION,
  RESULT,
  SESSION_END,
  SESSION_START,
  type DecisionData,
  type ResultData,
  type SessionEndData,
  type SessionStartData,
} from './format.ts';
import { boundSample } from './sample.ts';
import { canonical, CanonicalFragment } from '../evidence/canonical.ts';

export interface EvidenceRef {
  /** seq and hash of the evidence record */
  evidenceSeq: number;
  hash: string;
}

export type StartSession = Omit<SessionStartData, 'sessionId'> & { sessionId?: string };

export interface RecordDecision {
  sessionId: string;
  /** request number within the session; default: the next one */
  seq?: number;
  request: Request;
  decision: Decision;
  /** the decision already encoded (a gateway caches it per statement); must encode `decision` */
  encodedDecision?: CanonicalFragment;
}

export type RecordResult = Omit<ResultData, 'sample'> & { sample?: readonly unknown[] };

interface Live {
  startedAt: number;
  nextSeq: number;
}

export class Recorder {
  private readonly store: EvidenceStore;
  private readonly now: () => number;
  private readonly live = new Map<string, Live>();

  constructor(store: EvidenceStore, opts: { now?: () => number } = {}) {
    this.store = store;
    this.now = opts.now ?? Date.now;
  }

  /** false when evidence cannot be written: listeners refuse new sessions and requests meanwhile */
  healthy(): boolean {
    return this.store.healthy();
  }

  activeSessions(): string[] {
    return [...this.live.keys()];
  }

  async startSession(start: StartSession): Promise<{ sessionId: string } & EvidenceRef> {
    const sessionId = start.sessionId ?? randomUUID();
    if (this.live.has(sessionId)) {
      throw new PortcullisError('internal', `session ${sessionId} was started twice`);
    }
    const data: SessionStartData = { ...start, sessionId, groups: [...start.groups] };
    const ref = await this.append(SESSION_START, data);
    this.live.set(sessionId, { startedAt: this.now(), nextSeq: 1 });
    return { sessionId, ...ref };
  }

  async recordDecision(d: RecordDecision): Promise<{ seq: number } & EvidenceRef> {
    const session = this.session(d.sessionId);
    const seq = d.seq ?? session.nextSeq;
    session.nextSeq = Math.max(session.nextSeq, seq + 1);
    const data: DecisionData = { sessionId: d.sessionId, seq, request: d.request, decision: (d.encodedDecision ?? d.decision) as Decision };
    return { seq, ...(await this.append(DECISION, data)) };
  }

  /**
   * A decision in two stages (see EvidenceStore.appendStaged): a gateway may forward a read-only
   * statement once its record is written, and must hold the statement's results until `durable`.
   */
  recordDecisionStaged(d: RecordDecision): { written: Promise<{ seq: number } & EvidenceRef>; durable: Promise<void> } {
    const session = this.session(d.sessionId);
    const seq = d.seq ?? session.nextSeq;
    session.nextSeq = Math.max(session.nextSeq, seq + 1);
    const data: DecisionData = { sessionId: d.sessionId, seq, request: d.request, decision: (d.encodedDecision ?? d.decision) as Decision };
    const staged = this.store.appendStaged?.(DECISION, data) ?? ((p) => ({ written: p, durable: p }))(this.store.append(DECISION, data));
    const written = staged.written.then(({ seq: evidenceSeq, hash }) => ({ seq, evidenceSeq, hash }));
    const durable = staged.durable.then(() => undefined);
    // A caller whose `written` failed never looks at `durable`: its rejection is expected, not lost.
    durable.catch(() => undefined);
    return { written, durable };
  }

  async recordResult(r: RecordResult): Promise<EvidenceRef> {
    this.session(r.sessionId);
    return this.append(RESULT, encodeResult(r));
  }

  /** Idempotent: a connection torn down twice (error, then close) ends its session once. */
  async endSession(end: { sessionId: string; reason: string }): Promise<EvidenceRef | undefined> {
    const session = this.live.get(end.sessionId);
    if (!session) return undefined;
    this.live.delete(end.sessionId);
    const data: SessionEndData = { sessionId: end.sessionId, reason: end.reason, durationMs: Math.max(0, this.now() - session.startedAt) };
    return this.append(SESSION_END, data);
  }

  /** Ends every open session (gateway shutdown), best effort. */
  async endAll(reason: string): Promise<void> {
    await Promise.allSettled(this.activeSessions().map((sessionId) => this.endSession({ sessionId, reason })));
  }

  /**
   * A classified column the gateway tracks (relation oid and attnum) is now known by another name:
   * it stays masked under the old one, and the classification should be updated.
   */
  async recordCatalogDrift(d: { target: string; oid: number; attnum: number; was: readonly string[]; now: string }): Promise<EvidenceRef> {
    return this.append('catalog.drift', d);
  }

  private session(sessionId: string): Live {
    const session = this.live.get(sessionId);
    if (!session) throw new PortcullisError('internal', `session ${sessionId} is not open in this recorder`);
    return session;
  }

  private async append(type: string, data: unknown): Promise<EvidenceRef> {
    const { seq, hash } = await this.store.append(type, data);
    return { evidenceSeq: seq, hash };
  }
}

function num(n: number): string {
  return Number.isFinite(n) ? JSON.stringify(n) : 'null';
}

const RESULT_KEYS = new Set(['durationMs', 'error', 'maskedValues', 'rows', 'sample', 'seq', 'sessionId', 'status']);

/**
 * A result record's canonical JSON written out in its sorted key order: every statement has one,
 * and walking the object to sort its keys cost more than the rest of the record. Anything beyond
 * the known members takes the general encoder.
 */
export function encodeResult(r: RecordResult): CanonicalFragment | ResultData {
  const sample = boundSample(r.sample);
  for (const key in r) {
    if (!RESULT_KEYS.has(key)) {
      const data = Object.assign({}, r) as ResultData;
      data.sample = sample;
      return data;
    }
  }
  let json = `{"durationMs":${num(r.durationMs)}`;
  if (r.error !== undefined) json += `,"error":${canonical(r.error)}`;
  if (r.maskedValues !== undefined) json += `,"maskedValues":${num(r.maskedValues)}`;
  if (r.rows !== undefined) json += `,"rows":${num(r.rows)}`;
  if (sample !== undefined) json += `,"sample":${canonical(sample)}`;
  json += `,"seq":${num(r.seq)},"sessionId":${JSON.stringify(r.sessionId)},"status":${JSON.stringify(r.status)}}`;
  return CanonicalFragment.ofCanonical(json);
}
