/**
 * Replay: every recorded request decided by the base and the head bundle with the engine, and every
 * difference classified. Exposure (newly allowed, mask removed, row limit raised) and breakage
 * (newly denied) are separate kinds because a repo gates them differently.
 */
import { compileColumnPattern, type ColumnPattern } from '../engine/pattern.ts';
import type { Bundle } from '../bundle/model.ts';
import { shortRevision } from '../bundle/revision.ts';
import { decide } from '../engine/decide.ts';
import type { Decision, Mask } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import { relationName } from '../engine/match.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { describeRequest } from './describe.ts';
import { subjectUnder } from './subject.ts';
import { ChangeKinds, type Change, type ChangeBucket, type ChangeGroup, type ChangeKind, type DecisionSummary, type Gate, type ReplayReport } from './types.ts';

export const defaultGates: Record<ChangeKind, Gate> = {
  newlyAllowed: 'fail',
  maskRemoved: 'fail',
  newlyDenied: 'warn',
  newlyReviewed: 'warn',
  maskAdded: 'pass',
  limitRaised: 'warn',
  limitLowered: 'warn',
};

const EXAMPLES = 5;
const BUCKETS = 20;

export function replay(base: Bundle, head: Bundle, recordings: readonly RecordedRequest[], gates: Partial<Record<ChangeKind, Gate>> = {}): ReplayReport {
  const groups = new Map<ChangeKind, ChangeGroup>(ChangeKinds.map((kind) => [kind, { kind, gate: gates[kind] ?? defaultGates[kind], count: 0, examples: [], buckets: [] }]));
  const buckets = new Map<ChangeKind, Map<string, ChangeBucket>>(ChangeKinds.map((k) => [k, new Map()]));
  const sessions = new Set<string>();
  let unchanged = 0;
  for (const rec of recordings) {
    sessions.add(rec.sessionId);
    const b = outcomeUnder(base, rec);
    const h = outcomeUnder(head, rec);
    const changes: [ChangeKind, string[]?][] = [];
    if (b.effect !== h.effect) {
      changes.push([h.effect === 'allow' ? 'newlyAllowed' : h.effect === 'deny' ? 'newlyDenied' : 'newlyReviewed']);
    }
    if (h.effect !== 'deny' && b.effect !== 'deny') {
      // Only masks that can apply to this request: a statement on orders is not changed by a mask on customers.
      const bm = maskKeys(b.masks.filter((m) => touches(m, rec.request)));
      const hm = maskKeys(h.masks.filter((m) => touches(m, rec.request)));
      const removed = [...bm].filter((k) => !hm.has(k));
      const added = [...hm].filter((k) => !bm.has(k));
      if (removed.length) changes.push(['maskRemoved', removed]);
      if (added.length) changes.push(['maskAdded', added]);
      if (b.maxRows !== h.maxRows) {
        const raised = (h.maxRows ?? Infinity) > (b.maxRows ?? Infinity);
        changes.push([raised ? 'limitRaised' : 'limitLowered', [`maxRows ${b.maxRows ?? 'none'} → ${h.maxRows ?? 'none'}`]]);
      }
    }
    if (changes.length === 0) {
      unchanged++;
      continue;
    }
    for (const [kind, masks] of changes) {
      const g = groups.get(kind)!;
      g.count++;
      const change: Change = {
        kind,
        sessionId: rec.sessionId,
        seq: rec.seq,
        identity: rec.request.subject.identity,
        target: rec.request.target,
        request: describeRequest(rec.request),
        base: summary(b),
        head: summary(h),
        ...(masks ? { masks } : {}),
      };
      if (g.examples.length < EXAMPLES) g.examples.push(change);
      // Grouped by who, where and which rule decides now: one line per cause, with its count.
      const rules = (change.head.rules.length ? change.head.rules : change.base.rules).join(', ');
      const key = `${change.identity}\u0000${change.target}\u0000${rules}\u0000${(masks ?? []).join(',')}\u0000${b.effect}>${h.effect}`;
      const byKey = buckets.get(kind)!;
      const bucket = byKey.get(key);
      if (bucket) bucket.count++;
      else {
        const at = whereDecided(kind, b, h, head, rec.request.target);
        byKey.set(key, {
          identity: change.identity,
          target: change.target,
          rules: rules ? rules.split(', ') : [],
          change: `${b.effect} → ${h.effect}`,
          ...(masks ? { masks } : {}),
          count: 1,
          example: change,
          ...at,
        });
      }
    }
  }
  for (const [kind, byKey] of buckets) {
    const g = groups.get(kind)!;
    const sorted = [...byKey.values()].sort((a, b) => b.count - a.count || (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
    g.buckets = sorted.slice(0, BUCKETS);
    if (sorted.length > BUCKETS) g.moreBuckets = sorted.length - BUCKETS;
  }
  const list = [...groups.values()];
  return {
    base: shortRevision(base.revision),
    head: shortRevision(head.revision),
    requests: recordings.length,
    sessions: sessions.size,
    unchanged,
    groups: list,
    failed: list.filter((g) => g.gate === 'fail' && g.count > 0).map((g) => g.kind),
  };
}

/**
 * What the gateway would do with the recorded request under `bundle`: the engine's decision, and a
 * refusal the gateway made after it (a statement whose masking could not be proven safe) repeated
 * when the decision carries the same masks it was refused with - the same statement under the same
 * masks is refused the same way.
 */
function outcomeUnder(bundle: Bundle, rec: RecordedRequest): Decision {
  const subject = subjectUnder(bundle, rec.request);
  if (!subject) {
    return { effect: 'deny', rules: [], masks: [], reason: `identity '${rec.request.subject.identity}' does not exist`, revision: bundle.revision };
  }
  const d = decide(bundle, { ...rec.request, subject });
  if (d.effect !== 'deny' && refusedAfterDecision(rec) && sameKeys(maskKeys(d.masks), maskKeys(rec.decision.masks ?? []))) {
    return { ...d, effect: 'deny', reason: rec.decision.reason };
  }
  return d;
}

/**
 * Where a reviewer looks: the head rule that decides now; for a removed mask that came from a
 * classification, the target document that held it; else the base rule that decided before.
 */
function whereDecided(kind: ChangeKind, b: Decision, h: Decision, head: Bundle, target: string): { file?: string; line?: number } {
  if (kind === 'maskRemoved' && b.masks.some((m) => m.source.startsWith('classification:'))) {
    const t = head.targets.get(target);
    if (t) return { file: t.origin.file, line: t.doc.spec.classification ? t.origin.locate('/spec/classification').line : t.origin.line };
  }
  const rule = h.rules[0] ?? b.rules[0];
  return rule ? { file: rule.file, line: rule.line } : {};
}

/** A recorded deny that no rule made: the gateway refused after the rules allowed (masking safety). */
export function refusedAfterDecision(rec: RecordedRequest): boolean {
  return rec.decision.effect === 'deny' && /^refused by /.test(rec.decision.reason ?? '');
}

function sameKeys(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((k) => b.has(k));
}

export function summary(d: Decision): DecisionSummary {
  return { effect: d.effect, rules: d.rules.map((r) => `${r.policy}/${r.rule}`), reason: d.reason, ...(d.maxRows !== undefined ? { maxRows: d.maxRows } : {}) };
}

/** Masks by what they protect and how; which rule or classification contributed is not a change. */
function maskKeys(masks: readonly Mask[]): Set<string> {
  return new Set(masks.map((m) => `${m.kind === 'column' ? m.pattern.replace(/^\*\./, '') : m.kind === 'field' ? m.pattern : `${m.kind}:${m.pattern}`} (${m.strategy})`));
}

const columns = new Map<string, ColumnPattern>();

/** A mask's column pattern, compiled once; its relation part (`*.customers.email` → `*.customers`) says which statements it touches. */
function columnPatternOf(pattern: string): ColumnPattern {
  let column = columns.get(pattern);
  if (!column) {
    column = compileColumnPattern(pattern);
    columns.set(pattern, column);
  }
  return column;
}

/** Whether a mask can change what this request returns: a column mask only on the relations it reads. */
export function touches(m: Mask, r: Request): boolean {
  if (m.kind === 'content') return true;
  switch (r.protocol) {
    case 'postgres': {
      if (m.kind !== 'column') return false;
      const column = columnPatternOf(m.pattern);
      const relations = r.statement.relations;
      // A statement whose relations the analyser could not name may read anything.
      if (relations.length === 0) return r.statement.class === 'select' || r.statement.class === 'copy';
      return relations.some((rel) => column.testRelation(relationName(rel.schema, rel.name)) || column.testRelation(rel.name));
    }
    case 'http':
    case 'mcp':
      return m.kind === 'field';
    case 'kubernetes':
      return m.kind === 'secret-data' && r.resource === 'secrets';
  }
}
