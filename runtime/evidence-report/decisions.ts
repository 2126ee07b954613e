/**
 * Decisions one by one (not only counted), for an auditor's sample or spreadsheet: `portcullis
 * evidence decisions --effect allow --format csv`. Streamed: a log far larger than memory lists fine.
 */
import type { Decision, Effect } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import { readEvidence } from '../evidence/reader.ts';
import { describeRequest } from '../simulate/describe.ts';
import { matchesCommit, revisionKey } from './revision-key.ts';

export interface ListedDecision {
  ts: string;
  evidenceSeq: number;
  sessionId: string;
  seq: number;
  identity: string;
  target: string;
  effect: Effect;
  request: string;
  rules: string[];
  masks: string[];
  commit: string;
}

export async function* listDecisions(evidenceDir: string, opts: { effect?: Effect; commit?: string; since?: Date } = {}): AsyncGenerator<ListedDecision> {
  const since = opts.since?.toISOString();
  for await (const record of readEvidence(evidenceDir, { types: ['decision'] })) {
    if (since !== undefined && record.ts < since) continue;
    const data = (record.data ?? {}) as { sessionId?: string; seq?: number; request?: Request; decision?: Partial<Decision> };
    const decision = data.decision;
    if (!decision || (opts.effect && decision.effect !== opts.effect)) continue;
    const rev = revisionKey(decision.revision);
    if (opts.commit && (!rev || !matchesCommit(rev, opts.commit))) continue;
    const request = data.request;
    let text: string;
    try {
      text = (request && describeRequest(request)) ?? '(unreadable request)';
    } catch {
      text = '(unreadable request)';
    }
    yield {
      ts: record.ts,
      evidenceSeq: record.seq,
      sessionId: String(data.sessionId ?? ''),
      seq: Number(data.seq ?? 0),
      identity: request?.subject?.identity ?? '(unknown)',
      target: typeof request?.target === 'string' ? request.target : '(unknown)',
      effect: decision.effect as Effect,
      request: text,
      rules: (Array.isArray(decision.rules) ? decision.rules : []).map((r) => `${r.policy}/${r.rule}`),
      masks: (Array.isArray(decision.masks) ? decision.masks : []).map((m) => `${m.pattern}:${m.strategy}`),
      commit: rev?.key ?? '',
    };
  }
}

export const CSV_COLUMNS = ['ts', 'evidenceSeq', 'sessionId', 'seq', 'identity', 'target', 'effect', 'request', 'rules', 'masks', 'commit'] as const;

/** RFC 4180: every field quoted, quotes doubled; a leading formula character is defused for spreadsheets. */
export function csvRow(values: readonly (string | number)[]): string {
  return `${values
    .map((v) => {
      let text = String(v);
      if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
      return `"${text.replace(/"/g, '""')}"`;
    })
    .join(',')}\r\n`;
}

export function decisionCsv(d: ListedDecision): string {
  return csvRow([d.ts, d.evidenceSeq, d.sessionId, d.seq, d.identity, d.target, d.effect, d.request, d.rules.join(' '), d.masks.join(' '), d.commit]);
}
