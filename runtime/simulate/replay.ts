/**
 * Replay: every recorded request decided by the base and the head bundle with the engine, and every
 * difference classified. Exposure (newly allowed, mask removed) and breakage (newly denied) are
 * separate kinds because a repo gates them differently.
 */
import type { Bundle } from '../bundle/model.ts';
import { shortRevision } from '../bundle/revision.ts';
import { decide } from '../engine/decide.ts';
import type { Decision, Mask } from '../engine/decision.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { describeRequest } from './describe.ts';
import { subjectUnder } from './subject.ts';
import { ChangeKinds, type Change, type ChangeGroup, type ChangeKind, type DecisionSummary, type Gate, type ReplayReport } from './types.ts';

export const defaultGates: Record<ChangeKind, Gate> = {
  newlyAllowed: 'fail',
  maskRemoved: 'fail',
  newlyDenied: 'warn',
  newlyReviewed: 'warn',
  maskAdded: 'pass',
};

const EXAMPLES = 5;

export function replay(
  base: Bundle,
  head: Bundle,
  recordings: readonly RecordedRequest[],
  gates: Partial<Record<ChangeKind, Gate>> = {},
): ReplayReport {
  const groups = new Map<ChangeKind, ChangeGroup>(
    ChangeKinds.map((kind) => [kind, { kind, gate: gates[kind] ?? defaultGates[kind], count: 0, examples: [] }]),
  );
  const sessions = new Set<string>();
  let unchanged = 0;
  for (const rec of recordings) {
    sessions.add(rec.sessionId);
    const b = decideUnder(base, rec);
    const h = decideUnder(head, rec);
    const changes: [ChangeKind, string[]?][] = [];
    if (b.effect !== h.effect) {
      changes.push([h.effect === 'allow' ? 'newlyAllowed' : h.effect === 'deny' ? 'newlyDenied' : 'newlyReviewed']);
    }
    if (h.effect !== 'deny' && b.effect !== 'deny') {
      const bm = maskKeys(b.masks);
      const hm = maskKeys(h.masks);
      const removed = [...bm].filter((k) => !hm.has(k));
      const added = [...hm].filter((k) => !bm.has(k));
      if (removed.length) changes.push(['maskRemoved', removed]);
      if (added.length) changes.push(['maskAdded', added]);
    }
    if (changes.length === 0) {
      unchanged++;
      continue;
    }
    for (const [kind, masks] of changes) {
      const g = groups.get(kind)!;
      g.count++;
      if (g.examples.length < EXAMPLES) {
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
        g.examples.push(change);
      }
    }
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

function decideUnder(bundle: Bundle, rec: RecordedRequest): Decision {
  const subject = subjectUnder(bundle, rec.request);
  if (!subject) {
    return { effect: 'deny', rules: [], masks: [], reason: `identity '${rec.request.subject.identity}' does not exist`, revision: bundle.revision };
  }
  return decide(bundle, { ...rec.request, subject });
}

export function summary(d: Decision): DecisionSummary {
  return { effect: d.effect, rules: d.rules.map((r) => `${r.policy}/${r.rule}`), reason: d.reason };
}

/** Masks by what they protect and how; which rule or classification contributed is not a change. */
function maskKeys(masks: readonly Mask[]): Set<string> {
  return new Set(masks.map((m) => `${m.kind === 'column' ? m.pattern.replace(/^\*\./, '') : m.kind === 'field' ? m.pattern : `${m.kind}:${m.pattern}`} (${m.strategy})`));
}
