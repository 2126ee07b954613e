/**
 * What a pull request changes in the configuration that judges it, base against head, semantically
 * (a reformatted file is no change; a removed invariant is one wherever it lived).
 */
import type { Bundle, Located, PolicyTest } from '../bundle/model.ts';
import { canonicalJson } from '../bundle/revision.ts';
import { parseDuration } from '../engine/duration.ts';
import type { Effect } from '../engine/decision.ts';
import { defaultGates } from '../simulate/replay.ts';
import { ChangeKinds, type Gate } from '../simulate/types.ts';
import type { SafetyChange } from './types.ts';

export interface RecordingCounts {
  /** where they were read from (the base's spec.recordings folder) */
  path: string;
  base: number;
  head: number;
}

export function safetyChanges(base: Bundle, head: Bundle, recordings?: RecordingCounts): SafetyChange[] {
  return [...invariantChanges(base, head), ...suppressionChanges(base, head), ...settingChanges(base, head), ...testChanges(base, head), ...recordingChanges(head, recordings)];
}

function repoFile(b: Bundle): { file: string; line: number } {
  const at = b.files.find((f) => /^portcullis\.ya?ml$/.test(f));
  return { file: at ?? 'portcullis.yaml', line: 1 };
}

function invariantChanges(base: Bundle, head: Bundle): SafetyChange[] {
  const out: SafetyChange[] = [];
  const heads = new Map(head.invariants.map((i) => [i.doc.metadata.name, i]));
  const bases = new Map(base.invariants.map((i) => [i.doc.metadata.name, i]));
  for (const [name, b] of bases) {
    const h = heads.get(name);
    if (!h)
      out.push({
        kind: 'invariant-removed',
        weakens: true,
        message: `invariant '${name}' is removed (it still applies to this pull request: the base's invariants judge it)`,
        file: b.origin.file,
        line: b.origin.line,
      });
    else if (canonicalJson(semantic(b.doc.spec)) !== canonicalJson(semantic(h.doc.spec))) {
      out.push({
        kind: 'invariant-changed',
        weakens: true,
        message: `invariant '${name}' is changed (its scope or assertion; the base's version still applies to this pull request)`,
        file: h.origin.file,
        line: h.origin.line,
      });
    }
  }
  for (const [name, h] of heads) {
    if (!bases.has(name)) out.push({ kind: 'invariant-added', weakens: false, message: `invariant '${name}' is added`, file: h.origin.file, line: h.origin.line });
  }
  return out;
}

/** What a document means, without prose and without suppressions (those are compared on their own). */
function semantic(spec: unknown): unknown {
  const { description: _d, suppress: _s, ...rest } = (spec ?? {}) as Record<string, unknown>;
  return rest;
}

interface PlacedSuppression {
  key: string;
  where: string;
  rule: string;
  reason: string;
  file: string;
  line: number;
}

type WithSuppressions = Located<{
  kind: string;
  metadata: { name: string };
  spec?: { suppress?: { rule: string; reason: string }[]; rules?: { id: string; suppress?: { rule: string; reason: string }[] }[] };
}>;

export function suppressionsOf(b: Bundle): PlacedSuppression[] {
  const out: PlacedSuppression[] = [];
  const docs = [...b.targets.values(), ...b.identities.values(), ...b.policies, ...b.invariants] as unknown as WithSuppressions[];
  for (const d of docs) {
    const doc = `${d.doc.kind} ${d.doc.metadata.name}`;
    (d.doc.spec?.suppress ?? []).forEach((s, i) => {
      out.push({ key: `${doc}\u0000${s.rule}`, where: doc, rule: s.rule, reason: s.reason, file: d.origin.file, line: d.origin.locate(`/spec/suppress/${i}`).line });
    });
    (d.doc.spec?.rules ?? []).forEach((r, ri) =>
      (r.suppress ?? []).forEach((s, i) => {
        out.push({
          key: `${doc}\u0000${r.id}\u0000${s.rule}`,
          where: `${doc}, rule ${r.id}`,
          rule: s.rule,
          reason: s.reason,
          file: d.origin.file,
          line: d.origin.locate(`/spec/rules/${ri}/suppress/${i}`).line,
        });
      }),
    );
  }
  return out;
}

function suppressionChanges(base: Bundle, head: Bundle): SafetyChange[] {
  const known = new Set(suppressionsOf(base).map((s) => s.key));
  return suppressionsOf(head)
    .filter((s) => !known.has(s.key))
    .map((s) => ({ kind: 'suppression-added' as const, weakens: true, message: `a suppression of lint rule '${s.rule}' is added (${s.where}): "${s.reason}"`, file: s.file, line: s.line }));
}

const gateRank: Record<Gate, number> = { pass: 0, warn: 1, fail: 2 };

function settingChanges(base: Bundle, head: Bundle): SafetyChange[] {
  const out: SafetyChange[] = [];
  const b = base.repository.spec ?? {};
  const h = head.repository.spec ?? {};
  const at = repoFile(head);
  const push = (weakens: boolean, message: string) => out.push({ kind: 'setting-changed', weakens, message, ...at });

  if (b.maxGrantTtl !== h.maxGrantTtl) {
    const ms = (v: string | undefined) => (v === undefined ? Infinity : safeDuration(v));
    const weakens = ms(h.maxGrantTtl) > ms(b.maxGrantTtl);
    push(weakens, `maxGrantTtl ${b.maxGrantTtl ?? '(none)'} → ${h.maxGrantTtl ?? '(removed)'}${weakens ? ' (raised; this pull request is still checked against the base value)' : ''}`);
  }
  if (b.coverageThreshold !== h.coverageThreshold) {
    const weakens = (h.coverageThreshold ?? 0) < (b.coverageThreshold ?? 0);
    push(
      weakens,
      `coverageThreshold ${b.coverageThreshold ?? '(none)'} → ${h.coverageThreshold ?? '(removed)'}${weakens ? ' (lowered; this pull request is still checked against the base value)' : ''}`,
    );
  }
  for (const kind of ChangeKinds) {
    const bg = b.gates?.[kind] ?? defaultGates[kind];
    const hg = h.gates?.[kind] ?? defaultGates[kind];
    if (bg !== hg) push(gateRank[hg] < gateRank[bg], `gate ${kind} ${bg} → ${hg}`);
  }
  if ((b.recordings ?? '') !== (h.recordings ?? '')) push(true, `recordings source ${b.recordings ?? '(none)'} → ${h.recordings ?? '(removed)'} (this pull request still replays the base's)`);
  if (canonicalJson(b.include ?? null) !== canonicalJson(h.include ?? null))
    push(true, `include ${JSON.stringify(b.include ?? 'everything')} → ${JSON.stringify(h.include ?? 'everything')} (which files are policy)`);
  return out;
}

function safeDuration(v: string): number {
  try {
    return parseDuration(v);
  } catch {
    return Infinity;
  }
}

const effectRank: Record<Effect, number> = { allow: 0, review: 1, deny: 2 };
type Case = PolicyTest['spec']['cases'][number];

function testChanges(base: Bundle, head: Bundle): SafetyChange[] {
  const out: SafetyChange[] = [];
  const cases = (b: Bundle) => {
    const m = new Map<string, { c: Case; file: string; line: number }>();
    for (const t of b.tests) t.doc.spec.cases.forEach((c, i) => m.set(`${t.doc.metadata.name}\u0000${c.name}`, { c, file: t.origin.file, line: t.origin.locate(`/spec/cases/${i}`).line }));
    return m;
  };
  const bc = cases(base);
  const hc = cases(head);
  const label = (key: string) => key.replace('\u0000', ': ');
  for (const [key, b] of bc) {
    const h = hc.get(key);
    if (!h) {
      out.push({ kind: 'test-removed', weakens: true, message: `policy test case '${label(key)}' is removed (expected ${b.c.expect.effect})`, file: b.file, line: b.line });
      continue;
    }
    const { expect: be, name: _bn, ...brest } = b.c as Case & Record<string, unknown>;
    const { expect: he, name: _hn, ...hrest } = h.c as Case & Record<string, unknown>;
    if (canonicalJson(brest) === canonicalJson(hrest) && canonicalJson(be) === canonicalJson(he)) continue;
    const stricter =
      canonicalJson(brest) === canonicalJson(hrest) &&
      effectRank[he.effect] >= effectRank[be.effect] &&
      (be.masks ?? []).every((m) => (he.masks ?? []).includes(m)) &&
      canonicalJson(be.rules ?? null) === canonicalJson(he.rules ?? null);
    out.push({
      kind: 'test-changed',
      weakens: !stricter,
      message: `policy test case '${label(key)}' is changed${be.effect !== he.effect ? ` (expects ${be.effect} → ${he.effect})` : ''}`,
      file: h.file,
      line: h.line,
    });
  }
  for (const [key, h] of hc) if (!bc.has(key)) out.push({ kind: 'test-added', weakens: false, message: `policy test case '${label(key)}' is added`, file: h.file, line: h.line });
  return out;
}

function recordingChanges(head: Bundle, r: RecordingCounts | undefined): SafetyChange[] {
  if (!r || r.head === r.base) return [];
  const at = repoFile(head);
  if (r.head < r.base) {
    return [{ kind: 'recordings-reduced', weakens: true, message: `recordings in ${r.path}: ${r.base} → ${r.head} recorded requests (this pull request still replays the base's ${r.base})`, ...at }];
  }
  return [{ kind: 'recordings-added', weakens: false, message: `recordings in ${r.path}: ${r.base} → ${r.head} recorded requests`, ...at }];
}
