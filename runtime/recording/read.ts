/**
 * Rebuilds sessions from the evidence log (`portcullis sessions`) and exports the decided requests
 * as JSON lines for `portcullis simulate` to replay against a changed bundle.
 */
import { readEvidence } from '../evidence/reader.ts';
import { PortcullisError } from '../errors.ts';
import { DECISION, RECORDING_TYPES, RESULT, SESSION_END, SESSION_START, type DecisionData, type RecordedRequest, type ResultData, type SessionEndData, type SessionStartData } from './format.ts';

export interface RecordedExchange extends DecisionData {
  /** evidence timestamp of the decision */
  ts: string;
  evidenceSeq: number;
  result?: ResultData;
}

export interface RecordedSession {
  sessionId: string;
  /** absent only when the log was cut or rotated before this session's start */
  start?: SessionStartData & { ts: string };
  exchanges: RecordedExchange[];
  /** absent while the session is open or when the gateway stopped uncleanly */
  end?: SessionEndData & { ts: string };
}

export async function readSessions(dir: string, opts: { sessionId?: string } = {}): Promise<RecordedSession[]> {
  const sessions = new Map<string, RecordedSession>();
  const get = (sessionId: string): RecordedSession => {
    let s = sessions.get(sessionId);
    if (!s) {
      s = { sessionId, exchanges: [] };
      sessions.set(sessionId, s);
    }
    return s;
  };
  const exchanges = new Map<string, RecordedExchange>();
  for await (const record of readEvidence(dir, { types: RECORDING_TYPES })) {
    const sessionId = (record.data as { sessionId?: unknown })?.sessionId;
    if (typeof sessionId !== 'string' || (opts.sessionId !== undefined && sessionId !== opts.sessionId)) continue;
    const session = get(sessionId);
    switch (record.type) {
      case SESSION_START:
        session.start = { ...(record.data as SessionStartData), ts: record.ts };
        break;
      case DECISION: {
        const exchange: RecordedExchange = { ...(record.data as DecisionData), ts: record.ts, evidenceSeq: record.seq };
        session.exchanges.push(exchange);
        exchanges.set(`${sessionId}\u0000${exchange.seq}`, exchange);
        break;
      }
      case RESULT: {
        const result = record.data as ResultData;
        const exchange = exchanges.get(`${sessionId}\u0000${result.seq}`);
        if (exchange) exchange.result = result;
        break;
      }
      case SESSION_END:
        session.end = { ...(record.data as SessionEndData), ts: record.ts };
        break;
    }
  }
  if (opts.sessionId !== undefined && !sessions.has(opts.sessionId)) {
    throw new PortcullisError('not_found', `no session ${opts.sessionId} in the evidence log`, {
      details: { hint: 'list sessions with `portcullis sessions`' },
    });
  }
  return [...sessions.values()];
}

/** Every decided request in log order. */
export async function exportRecordings(dir: string): Promise<RecordedRequest[]> {
  const out: RecordedRequest[] = [];
  for await (const record of readEvidence(dir, { types: [DECISION] })) {
    const { sessionId, seq, request, decision } = record.data as DecisionData;
    out.push({ sessionId, seq, request, decision });
  }
  return out;
}

export function formatRecordings(recordings: readonly RecordedRequest[]): string {
  return recordings.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** Parses recordings JSON lines; `source` names the file in errors. */
export function parseRecordings(text: string, source = 'recordings'): RecordedRequest[] {
  const out: RecordedRequest[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new PortcullisError('invalid_argument', `line ${i + 1} is not JSON`, { cause, details: { file: source, line: i + 1 } });
    }
    const r = value as Partial<RecordedRequest>;
    if (typeof r?.sessionId !== 'string' || typeof r.seq !== 'number' || typeof r.request !== 'object' || typeof r.decision !== 'object') {
      throw new PortcullisError('invalid_argument', `line ${i + 1} is not a recorded request (needs sessionId, seq, request, decision)`, {
        details: { file: source, line: i + 1 },
      });
    }
    out.push(r as RecordedRequest);
  });
  return out;
}
