/**
 * Invariant search: for each Invariant, fast-check draws requests in its scope - identities x
 * targets x actions x resources x statement shapes, from the bundle's vocabulary and the recorded
 * traffic - decides them with the engine, and shrinks the first request that breaks the invariant
 * to a minimal one. The same seed gives the same search and the same counterexample.
 */
import fc from 'fast-check';
import type { Bundle, Invariant, Located, Target, TargetType } from '../bundle/model.ts';
import { actionsByType } from '../bundle/vocabulary.ts';
import { decide } from '../engine/decide.ts';
import type { Decision } from '../engine/decision.ts';
import { compileMatcher, normaliseRelationPattern } from '../engine/match.ts';
import { normaliseColumnPattern } from '../engine/compile.ts';
import { itemsOf } from '../engine/items.ts';
import type { Request } from '../engine/request.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { reached } from '../lint/context.ts';
import { canonicalJson } from '../bundle/revision.ts';
import { describeRequest } from './describe.ts';
import { sampleRequest } from './sample.ts';
import { subjectUnder } from './subject.ts';
import { summary, touches } from './replay.ts';
import { instances, vocabularyOf, type Vocabulary } from './vocabulary.ts';
import type { Counterexample, InvariantResult } from './types.ts';
import { columnPatternCovers } from '../engine/pattern.ts';

export interface SearchOptions {
  seed: number;
  runs: number;
  /** fixed instant for generated requests, so time-window rules do not make runs differ */
  at?: string;
}

interface Scope {
  identities: { name: string; groups: readonly string[] }[];
  targets: { name: string; type: TargetType; actions: string[]; resources: string[]; namespaces: string[] }[];
  inScope(r: Request): boolean;
}

/**
 * Every invariant of `bundle`, and with `base` every invariant of the base revision too: a pull
 * request is judged by the promises it started from, so deleting or loosening one changes nothing
 * for its own check. A base invariant is checked against the head's policies, with the
 * classifications of both revisions (a classification the head deletes is still required).
 */
export function checkInvariants(bundle: Bundle, recordings: readonly RecordedRequest[], options: SearchOptions, base?: Bundle): InvariantResult[] {
  const vocabulary = vocabularyOf(bundle, recordings);
  const definitions = base ? [base, bundle] : [bundle];
  const own = bundle.invariants.map((inv) => checkInvariant(bundle, inv, recordings, vocabulary, options, definitions));
  if (!base) return own;
  const same = new Set(bundle.invariants.map((i) => canonicalJson({ name: i.doc.metadata.name, scope: i.doc.spec.scope, assert: i.doc.spec.assert })));
  const inherited = base.invariants
    .filter((i) => !same.has(canonicalJson({ name: i.doc.metadata.name, scope: i.doc.spec.scope, assert: i.doc.spec.assert })))
    .map((inv) => ({ ...checkInvariant(bundle, inv, recordings, vocabulary, options, definitions), from: 'base' as const }));
  return [...own, ...inherited];
}

export function checkInvariant(
  bundle: Bundle,
  inv: Located<Invariant>,
  recordings: readonly RecordedRequest[],
  vocabulary: Vocabulary,
  options: SearchOptions,
  definitions: readonly Bundle[] = [bundle],
): InvariantResult {
  const base = { name: inv.doc.metadata.name, file: inv.origin.file, line: inv.origin.line };
  const scope = scopeOf(bundle, inv, vocabulary, definitions);
  const violation = violationOf(definitions, inv);
  // Real traffic first: a recorded request that breaks the invariant needs no search.
  let checked = 0;
  for (const rec of recordings) {
    const subject = subjectUnder(bundle, rec.request);
    if (!subject) continue;
    const request = { ...rec.request, subject } as Request;
    if (!scope.inScope(request)) continue;
    checked++;
    const d = decide(bundle, request);
    const v = violation(request, d);
    if (v) {
      return { ...base, holds: false, runs: checked, counterexample: counterexample('recording', request, d, v, { sessionId: rec.sessionId, seq: rec.seq }) };
    }
  }
  if (scope.identities.length === 0 || scope.targets.every((t) => t.actions.length === 0)) {
    return { ...base, holds: true, runs: checked, skipped: 'its scope matches no identity, target and action together' };
  }
  const arbitrary = requestArbitrary(scope, options.at ?? '2025-01-06T12:00:00.000Z');
  const details = fc.check(
    fc.property(arbitrary, (request) => !scope.inScope(request) || violation(request, decide(bundle, request)) === undefined),
    { seed: options.seed, numRuns: options.runs },
  );
  if (!details.failed || !details.counterexample) return { ...base, holds: true, runs: checked + details.numRuns };
  const [request] = details.counterexample;
  const d = decide(bundle, request);
  return {
    ...base,
    holds: false,
    runs: checked + details.numRuns,
    counterexample: { ...counterexample('search', request, d, violation(request, d) ?? 'violated'), shrinks: details.numShrinks },
  };
}

function counterexample(source: Counterexample['source'], request: Request, d: Decision, violation: string, from: { sessionId?: string; seq?: number } = {}): Counterexample {
  return { source, identity: request.subject.identity, target: request.target, request: describeRequest(request), raw: request, decision: summary(d), violation, ...from };
}

/** The check an invariant makes of one decided request; a sentence when it is broken. */
function violationOf(definitions: readonly Bundle[], inv: Located<Invariant>): (r: Request, d: Decision) => string | undefined {
  const { effectNot, masked } = inv.doc.spec.assert;
  const required = (masked ?? []).map((name) => ({ name, masks: dedupe(definitions.flatMap((b) => requiredMasks(b, name))) }));
  return (r, d) => {
    if (effectNot?.includes(d.effect)) return `effect is ${d.effect}${d.rules.length ? ` (rule ${d.rules.map((x) => `${x.policy}/${x.rule}`).join(', ')})` : ''}, which the invariant forbids`;
    if (d.effect === 'deny') return undefined;
    for (const c of required) {
      const missing = c.masks
        // A mask matters where it can apply: a column of customers on a statement that reads customers.
        .filter((m) => m.protocols.includes(r.protocol) && touches({ ...m, strategy: 'redact', source: '' }, r))
        .filter((m) => !d.masks.some((have) => have.kind === m.kind && (have.pattern === m.pattern || (m.kind === 'column' && columnPatternCovers(have.pattern, m.pattern)))));
      if (missing.length > 0)
        return `classification ${c.name} is not masked: ${missing.map((m) => (m.kind === 'column' ? m.pattern.replace(/^\*\./, '') : m.pattern)).join(', ')} unmasked on ${d.effect}`;
    }
    return undefined;
  };
}

interface RequiredMask {
  kind: 'column' | 'field' | 'secret-data' | 'content';
  pattern: string;
  protocols: readonly Request['protocol'][];
}

/** A classification's masks as its defining targets state them (a name can be defined on several). */
function requiredMasks(bundle: Bundle, name: string): RequiredMask[] {
  const out = new Map<string, RequiredMask>();
  for (const t of bundle.targets.values()) {
    for (const c of t.doc.spec.classification ?? []) {
      if (c.name !== name) continue;
      for (const col of c.columns ?? []) out.set(`c${col}`, { kind: 'column', pattern: normaliseColumnPattern(col), protocols: ['postgres'] });
      for (const f of c.fields ?? []) out.set(`f${f}`, { kind: 'field', pattern: f, protocols: ['http', 'mcp'] });
      if (c.secretData) out.set('s', { kind: 'secret-data', pattern: '*', protocols: ['kubernetes'] });
      for (const d of c.content ?? []) out.set(`d${d}`, { kind: 'content', pattern: d, protocols: ['http', 'mcp', 'kubernetes', 'postgres'] });
    }
  }
  return [...out.values()];
}

function dedupe(masks: RequiredMask[]): RequiredMask[] {
  return [...new Map(masks.map((m) => [`${m.kind}\u0000${m.pattern}`, m])).values()];
}

/**
 * Who, where and what an invariant speaks about. Group membership counts in every revision given
 * (base and head): moving an agent out of the group an invariant names does not take it out of the
 * invariant's scope in the same pull request.
 */
function scopeOf(bundle: Bundle, inv: Located<Invariant>, vocabulary: Vocabulary, revisions: readonly Bundle[] = [bundle]): Scope {
  const s = inv.doc.spec.scope;
  const members = new Map<string, Set<string>>();
  for (const b of revisions) {
    for (const [name, i] of b.identities) {
      if (!bundle.identities.has(name)) continue;
      for (const g of i.doc.spec.groups ?? []) (members.get(g) ?? members.set(g, new Set()).get(g)!).add(name);
    }
  }
  const names = s.subjects ? [...reached(s.subjects, members)].sort() : [...bundle.identities.keys()];
  const identities = names.map((name) => ({ name, groups: bundle.identities.get(name)?.doc.spec.groups ?? [] }));
  const targetList: Located<Target>[] = (s.targets ?? [...bundle.targets.keys()]).map((n) => bundle.targets.get(n)).filter((t) => t !== undefined);
  const wantActions = s.actions && !s.actions.includes('*') ? new Set(s.actions) : undefined;
  const targets = targetList.map((t) => {
    const type = t.doc.spec.type;
    const name = t.doc.metadata.name;
    const resourceMatcher = compileMatcher(s.resources, type);
    let resources = (vocabulary.resources.get(name) ?? []).filter((r) => resourceMatcher.test(type === 'postgres' ? normaliseRelationPattern(r) : r));
    if (s.resources) resources = [...new Set([...(s.resources ?? []).flatMap((p) => instances(p, type)), ...resources])];
    return {
      name,
      type,
      actions: actionsByType[type].filter((a) => !wantActions || wantActions.has(a)),
      resources,
      namespaces: [...(vocabulary.namespaces.get(name) ?? []), 'default'],
    };
  });
  const identitySet = new Set(names);
  const targetNames = new Set(targets.map((t) => t.name));
  const resourceMatchers = new Map(targets.map((t) => [t.name, compileMatcher(s.resources, t.type)]));
  return {
    identities,
    targets,
    inScope(r) {
      if (!identitySet.has(r.subject.identity) || !targetNames.has(r.target)) return false;
      const items = itemsOf(r);
      const m = resourceMatchers.get(r.target)!;
      return items.some((i) => (!wantActions || wantActions.has(i.action)) && (m.any || (i.resource !== undefined && m.test(i.resource))));
    },
  };
}

/**
 * Requests as index tuples into the scope's lists: fast-check shrinks numbers towards 0, which is
 * the simplest identity, target, action and resource, so shrinking needs no custom logic.
 */
function requestArbitrary(scope: Scope, at: string): fc.Arbitrary<Request> {
  const invented = fc.stringMatching(/^[a-z][a-z_]{0,7}$/);
  return fc
    .record({
      who: fc.nat(),
      target: fc.nat(),
      action: fc.nat(),
      resources: fc.array(fc.oneof({ weight: 4, arbitrary: fc.nat() }, { weight: 1, arbitrary: invented }), { minLength: 1, maxLength: 3 }),
      namespace: fc.nat(),
      where: fc.boolean(),
      subresource: fc.boolean(),
    })
    .map((g) => {
      const who = scope.identities[g.who % scope.identities.length]!;
      const usable = scope.targets.filter((t) => t.actions.length > 0);
      const t = usable[g.target % usable.length]!;
      const action = t.actions[g.action % t.actions.length]!;
      const pick = (x: number | string, fallback: string) => (typeof x === 'string' ? x : (t.resources[x % Math.max(1, t.resources.length)] ?? fallback));
      const subject = { identity: who.name, groups: who.groups };
      const resources = t.type === 'postgres' ? g.resources.map((x) => pick(x, 'public.x')) : [pick(g.resources[0]!, t.type === 'http' ? '/' : t.type === 'kubernetes' ? 'pods' : 'x')];
      const namespace = t.type === 'kubernetes' ? t.namespaces[g.namespace % t.namespaces.length] : undefined;
      return sampleRequest({ subject, target: t.name, type: t.type, action, resources, ...(namespace ? { namespace } : {}), where: g.where, subresource: g.subresource, at });
    });
}
