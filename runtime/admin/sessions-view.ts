/**
 * Sessions and bundle history as the console and `/api/sessions` show them, read from the evidence
 * log. The log is re-read only when it grew (size and mtime), so a busy console does not rescan it
 * for every click.
 */
import { describeCoverage } from '../approvals/coverage.ts';
import type { Coverage } from '../approvals/types.ts';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { readEvidence } from '../evidence/reader.ts';
import { evidenceLogPath } from '../evidence/store.ts';
import type { Revision } from '../engine/decision.ts';
import { readSessions, type RecordedSession } from '../recording/read.ts';
import { summarize } from '../approvals/request-hash.ts';
import type { BundleChanges } from '../bundle/changes.ts';

export interface SessionSummary {
  sessionId: string;
  identity: string | null;
  kind?: string;
  target: string | null;
  protocol: string | null;
  startedAt: string | null;
  endedAt?: string;
  endReason?: string;
  durationMs?: number;
  requests: number;
  effects: { allow: number; deny: number; review: number };
  /** short commits (or digests) of the decisions in the session */
  commits: string[];
}

export interface SessionFilter {
  agent?: string;
  target?: string;
  effect?: string;
  commit?: string;
}

export interface BundleEvent {
  seq: number;
  ts: string;
  type: 'bundle.loaded' | 'bundle.rejected';
  revision?: Revision;
  commit?: string;
  files?: number;
  errors?: string[];
  /** bundle.loaded: rules and documents added, removed, changed against the bundle it replaced */
  changes?: BundleChanges;
  subject?: string;
  pullRequest?: { number: number; url?: string };
}

export function shortCommit(r: Revision | null | undefined): string {
  if (!r) return '';
  return r.commit ? r.commit.slice(0, 7) + (r.dirty ? '+dirty' : '') : r.digest.slice(0, 12);
}

export function summarizeSession(s: RecordedSession): SessionSummary {
  const effects = { allow: 0, deny: 0, review: 0 };
  const commits = new Set<string>();
  for (const x of s.exchanges) {
    effects[x.decision.effect]++;
    const c = shortCommit(x.decision.revision);
    if (c) commits.add(c);
  }
  return {
    sessionId: s.sessionId,
    identity: s.start?.identity ?? s.exchanges[0]?.request.subject.identity ?? null,
    ...(s.start?.kind ? { kind: s.start.kind } : {}),
    target: s.start?.target ?? s.exchanges[0]?.request.target ?? null,
    protocol: s.start?.protocol ?? s.exchanges[0]?.request.protocol ?? null,
    startedAt: s.start?.ts ?? s.exchanges[0]?.ts ?? null,
    ...(s.end ? { endedAt: s.end.ts, endReason: s.end.reason, durationMs: s.end.durationMs } : {}),
    requests: s.exchanges.length,
    effects,
    commits: [...commits],
  };
}

function matches(s: RecordedSession, summary: SessionSummary, f: SessionFilter): boolean {
  if (f.agent && !(summary.identity ?? '').toLowerCase().includes(f.agent.toLowerCase())) return false;
  if (f.target && summary.target !== f.target) return false;
  if (f.effect && !s.exchanges.some((x) => x.decision.effect === f.effect)) return false;
  if (f.commit) {
    const c = f.commit.toLowerCase();
    if (!s.exchanges.some((x) => (x.decision.revision.commit ?? '').startsWith(c) || x.decision.revision.digest.startsWith(c))) return false;
  }
  return true;
}

export class SessionsView {
  private readonly dir: string;
  private cache: { key: string; sessions: RecordedSession[] } | undefined;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'evidence');
  }

  private async all(): Promise<RecordedSession[]> {
    let key: string;
    try {
      const st = await stat(evidenceLogPath(this.dir));
      key = `${st.size}:${st.mtimeMs}`;
    } catch {
      return [];
    }
    if (this.cache?.key === key) return this.cache.sessions;
    const sessions = await readSessions(this.dir);
    this.cache = { key, sessions };
    return sessions;
  }

  /** Newest first. */
  async list(filter: SessionFilter = {}, limit = 500): Promise<SessionSummary[]> {
    const out: SessionSummary[] = [];
    const sessions = await this.all();
    for (let i = sessions.length - 1; i >= 0 && out.length < limit; i--) {
      const s = sessions[i] as RecordedSession;
      const summary = summarizeSession(s);
      if (matches(s, summary, filter)) out.push(summary);
    }
    return out;
  }

  async get(sessionId: string): Promise<{ summary: SessionSummary; session: RecordedSession; timeline: TimelineEntry[] }> {
    const session = (await this.all()).find((s) => s.sessionId === sessionId);
    if (!session) throw new PortcullisError('not_found', `no session ${sessionId} in the evidence log`);
    return { summary: summarizeSession(session), session, timeline: session.exchanges.map(timelineEntry) };
  }

  async bundles(): Promise<BundleEvent[]> {
    const out: BundleEvent[] = [];
    try {
      for await (const r of readEvidence(this.dir, { types: ['bundle.loaded', 'bundle.rejected'] })) {
        const d = r.data as {
          revision?: Revision;
          files?: number;
          errors?: string[];
          live?: Revision | null;
          changes?: BundleChanges;
          subject?: string;
          pullRequest?: { number: number; url?: string };
        };
        out.push({
          seq: r.seq,
          ts: r.ts,
          type: r.type as BundleEvent['type'],
          ...(d.revision ? { revision: d.revision, commit: shortCommit(d.revision) } : {}),
          ...(r.type === 'bundle.rejected' && d.live ? { commit: shortCommit(d.live) } : {}),
          ...(d.files !== undefined ? { files: d.files } : {}),
          ...(d.errors ? { errors: d.errors } : {}),
          ...(d.changes ? { changes: d.changes } : {}),
          ...(d.subject ? { subject: d.subject } : {}),
          ...(d.pullRequest ? { pullRequest: d.pullRequest } : {}),
        });
      }
    } catch (error) {
      if (!PortcullisError.is(error, 'not_found')) throw error;
    }
    return out.reverse();
  }
}

export interface TimelineEntry {
  seq: number;
  ts: string;
  evidenceSeq: number;
  summary: string;
  effect: string;
  reason: string;
  rules: string[];
  commit: string;
  masks: number;
  /** a review let through: "review → allowed by grant gr-… (approved by alice: note)" */
  approval?: string;
  result?: RecordedSession['exchanges'][number]['result'];
}

function timelineEntry(x: RecordedSession['exchanges'][number]): TimelineEntry {
  return {
    seq: x.seq,
    ts: x.ts,
    evidenceSeq: x.evidenceSeq,
    summary: summarize(x.request),
    effect: x.decision.effect,
    reason: x.decision.reason,
    rules: x.decision.rules.map((r) => `${r.policy}/${r.rule}`),
    commit: shortCommit(x.decision.revision),
    masks: x.decision.masks.length,
    ...(x.decision.approval ? { approval: describeCoverage(x.decision.approval as Coverage) } : {}),
    ...(x.result ? { result: x.result } : {}),
  };
}
