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
import { DECISION, RESULT, SESSION_END, SESSION_START, type DecisionData, type ResultData, type SessionEndData, type SessionStartData } from './format.ts';
import { boundSample } from './sample.ts';
import { canonical, CanonicalFragment, type CanonicalWithSlot } from '../encoding/canonical.ts';
import type { CompactParts } from '../evidence/store.ts';

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
  /**
   * the decision already encoded (a gateway caches it per statement); must encode `decision`. A v2
   * log writes it once and references it from every record that decides the same way.
   */
  encodedDecision?: CanonicalFragment;
  /**
   * Optional (format v2), for a request that is a statement of the session's own subject on the
   * session's target (the PostgreSQL gateway's): its template (the analysis, encoded once per
   * template), its text and `at`. A v2 log then writes the request as the session's subject (a
   * fact), the template (a fact) and this text, and readers see exactly `request`. A v1 store
   * writes `request` itself, so it must still be the whole request. See docs/approvals-and-evidence.md (the log format).
   */
  statement?: StatementHint;
}

export interface StatementHint {
  template: CanonicalWithSlot;
  text: string;
  /** the request's `at` */
  at: string;
}

export type RecordResult = Omit<ResultData, 'sample'> & { sample?: readonly unknown[] };

interface Live {
  startedAt: number;
  /** the request members every statement of the session shares, for StatementHint */
  /** `"protocol":…` and `"target":…` of the session's requests, encoded once */
  protocolJson: string;
  targetJson: string;
  idJson: string;
  subject: CanonicalFragment;
  nextSeq: number;
  /** v2: results waiting to ride in the session's next record (or on their own, a turn later) */
  results: FoldedResult[];
  resultsScheduled: boolean;
}

interface FoldedResult {
  json: string;
  resolve: (ref: EvidenceRef) => void;
  reject: (error: unknown) => void;
}

export class Recorder {
  private readonly store: EvidenceStore;
  private readonly now: () => number;
  private readonly live = new Map<string, Live>();

  constructor(store: EvidenceStore, opts: { now?: () => number } = {}) {
    this.store = store;
    this.now = opts.now ?? Date.now;
  }

  /**
   * true when the store writes format v2: with a StatementHint, `request` is then not written (a
   * caller may skip building it); false for v1 stores (the PostgreSQL store of replicas)
   */
  get compact(): boolean {
    return this.store.compact === true;
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
    this.live.set(sessionId, {
      startedAt: this.now(),
      protocolJson: `"protocol":${JSON.stringify(start.protocol)}`,
      targetJson: `"target":${JSON.stringify(start.target)}`,
      idJson: JSON.stringify(sessionId),
      subject: new CanonicalFragment({ identity: start.identity, groups: start.groups }),
      nextSeq: 1,
      results: [],
      resultsScheduled: false,
    });
    return { sessionId, ...ref };
  }

  async recordDecision(d: RecordDecision): Promise<{ seq: number } & EvidenceRef> {
    const session = this.session(d.sessionId);
    const seq = d.seq ?? session.nextSeq;
    session.nextSeq = Math.max(session.nextSeq, seq + 1);
    if (this.store.compact) {
      const { data, parts, folded } = this.compactDecision(session, d, seq);
      const appended = this.store.append(DECISION, data, parts);
      settleFolded(folded, appended, this.writeAlone);
      const { seq: evidenceSeq, hash } = await appended;
      return { seq, evidenceSeq, hash };
    }
    const data: DecisionData = { sessionId: d.sessionId, seq, request: d.request, decision: (d.encodedDecision ?? d.decision) as Decision };
    return { seq, ...(await this.append(DECISION, data)) };
  }

  /**
   * A v2 decision record: the decision and the statement template by reference, the session's
   * waiting results folded in.
   */
  private compactDecision(session: Live, d: RecordDecision, seq: number): { data: unknown; parts: CompactParts; folded: FoldedResult[] } {
    const refs: Record<string, CanonicalFragment> = {};
    let decision: unknown = d.decision;
    if (d.encodedDecision) {
      refs.decision = d.encodedDecision;
      decision = undefined;
    }
    let request: unknown = d.request;
    if (d.statement) {
      refs['request.subject'] = session.subject;
      refs['request.statement'] = d.statement.template.template;
      request = statementRequest(session, d.statement);
    }
    // The record's text written out directly when its parts are encoded already (the hot path).
    const data =
      decision === undefined && request instanceof CanonicalFragment
        ? CanonicalFragment.ofCanonical(`{"request":${request.json},"seq":${num(seq)},"sessionId":${session.idJson}}`)
        : { sessionId: d.sessionId, seq, request, decision };
    const folded = session.results;
    session.results = [];
    const parts: CompactParts = {};
    for (const _ in refs) {
      parts.refs = refs;
      break;
    }
    if (folded.length > 0) parts.results = folded.map((f) => f.json);
    return { data, parts, folded };
  }

  /**
   * A decision in two stages (see EvidenceStore.appendStaged): a gateway may forward a read-only
   * statement once its record is written, and must hold the statement's results until `durable`.
   */
  recordDecisionStaged(d: RecordDecision): { written: Promise<{ seq: number } & EvidenceRef>; durable: Promise<void> } {
    const session = this.session(d.sessionId);
    const seq = d.seq ?? session.nextSeq;
    session.nextSeq = Math.max(session.nextSeq, seq + 1);
    let staged: { written: Promise<{ seq: number; hash: string }>; durable: Promise<{ seq: number; hash: string }> };
    if (this.store.compact) {
      const { data, parts, folded } = this.compactDecision(session, d, seq);
      staged = this.store.appendStaged?.(DECISION, data, parts) ?? ((p) => ({ written: p, durable: p }))(this.store.append(DECISION, data, parts));
      settleFolded(folded, staged.durable, this.writeAlone);
    } else {
      const data: DecisionData = { sessionId: d.sessionId, seq, request: d.request, decision: (d.encodedDecision ?? d.decision) as Decision };
      staged = this.store.appendStaged?.(DECISION, data) ?? ((p) => ({ written: p, durable: p }))(this.store.append(DECISION, data));
    }
    const written = staged.written.then(({ seq: evidenceSeq, hash }) => ({ seq, evidenceSeq, hash }));
    const durable = staged.durable.then(() => undefined);
    // A caller whose `written` failed never looks at `durable`: its rejection is expected, not lost.
    durable.catch(() => undefined);
    return { written, durable };
  }

  /**
   * With a v2 store the result rides in the session's next record when that comes within this turn
   * of the event loop (a gateway records the next decision right after), else it is written as a
   * record of its own a turn later; either way the promise resolves once it is durable.
   */
  async recordResult(r: RecordResult): Promise<EvidenceRef> {
    const session = this.session(r.sessionId);
    const encoded = encodeResult(r);
    if (!this.store.compact) return this.append(RESULT, encoded);
    const json = encoded instanceof CanonicalFragment ? encoded.json : canonical(encoded);
    return new Promise<EvidenceRef>((resolve, reject) => {
      session.results.push({ json, resolve, reject });
      this.scheduleResults(session);
    });
  }

  /**
   * recordResult for a caller that never waits for it (the exchange core's result queue): no promise
   * of its own; `failed` hears of a result that could not be written.
   */
  queueResult(r: RecordResult, failed: (error: unknown) => void): void {
    const session = this.live.get(r.sessionId);
    if (!session) return failed(new PortcullisError('internal', `session ${r.sessionId} is not open in this recorder`));
    let encoded: CanonicalFragment | ResultData;
    let json: string;
    try {
      encoded = encodeResult(r);
      json = encoded instanceof CanonicalFragment ? encoded.json : canonical(encoded);
    } catch (error) {
      return failed(error);
    }
    if (!this.store.compact) {
      this.store.append(RESULT, encoded).then(undefined, failed);
      return;
    }
    session.results.push({ json, resolve: unheard, reject: failed });
    this.scheduleResults(session);
  }

  /** Results no record carries within this turn are written on their own, one turn later. */
  private scheduleResults(session: Live): void {
    if (session.resultsScheduled) return;
    session.resultsScheduled = true;
    setImmediate(() => {
      session.resultsScheduled = false;
      this.writeWaitingResults(session);
    });
  }

  /** Results no record carried: each as a record of its own. */
  private writeWaitingResults(session: Live): void {
    const waiting = session.results;
    session.results = [];
    for (const f of waiting) this.writeAlone(f);
  }

  private readonly writeAlone = (f: FoldedResult): void => settleFolded([f], this.store.append(RESULT, CanonicalFragment.ofCanonical(f.json)));

  /** Idempotent: a connection torn down twice (error, then close) ends its session once. */
  async endSession(end: { sessionId: string; reason: string }): Promise<EvidenceRef | undefined> {
    const session = this.live.get(end.sessionId);
    if (!session) return undefined;
    this.live.delete(end.sessionId);
    const data: SessionEndData = { sessionId: end.sessionId, reason: end.reason, durationMs: Math.max(0, this.now() - session.startedAt) };
    if (session.results.length > 0) {
      const folded = session.results;
      session.results = [];
      const appended = this.store.append(SESSION_END, data, { results: folded.map((f) => f.json) });
      settleFolded(folded, appended);
      const { seq, hash } = await appended;
      return { evidenceSeq: seq, hash };
    }
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

function unheard(): void {}

/** Folded results are as durable as the record that carries them. */
function settleFolded(folded: readonly FoldedResult[], carrier: Promise<{ seq: number; hash: string }>, alone?: (f: FoldedResult) => void): void {
  if (folded.length === 0) return;
  carrier.then(
    ({ seq, hash }) => folded.forEach((f) => f.resolve({ evidenceSeq: seq, hash })),
    (error: unknown) => {
      // A carrier refused for its own content (it cannot be encoded) must not take the results
      // with it: they are written on their own. A store that cannot write refuses them as well.
      if (alone && PortcullisError.is(error, 'invalid_argument')) folded.forEach(alone);
      else folded.forEach((f) => f.reject(error));
    },
  );
}

/**
 * A v2 request from the session and the hint: subject and statement template come by reference
 * (refs), the statement's text stays here.
 */
function statementRequest(session: Live, s: StatementHint): CanonicalFragment {
  return CanonicalFragment.ofCanonical(`{"at":${JSON.stringify(s.at)},${session.protocolJson},"statement":{${JSON.stringify(s.template.member)}:${JSON.stringify(s.text)}},${session.targetJson}}`);
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
