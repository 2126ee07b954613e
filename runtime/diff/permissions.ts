/**
 * The permission diff: what the head bundle lets each identity do that the base did not, and the
 * reverse, computed from the two bundles alone - no recorded traffic, so deleting recordings hides
 * nothing. Every identity × target × action × resource that a policy of either revision names (each
 * glob instantiated, plus a resource no rule names, for wildcards) is decided by the engine under
 * both, at a weekday noon and a weekend night (time windows), with and without WHERE, and compared:
 * effect (deny < review < allow), the masks that apply, the row limit, and a review's grant.
 */
import type { Bundle, Located, Policy, Target, TargetType } from '../bundle/model.ts';
import { canonicalJson, shortRevision } from '../bundle/revision.ts';
import { targetsOf } from '../bundle/resolve.ts';
import { actionsByType } from '../bundle/vocabulary.ts';
import { decide } from '../engine/decide.ts';
import type { Decision, Effect, Mask } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import { formatDuration, parseDuration } from '../engine/duration.ts';
import { reached } from '../lint/context.ts';
import { describeRequest } from '../simulate/describe.ts';
import { touches } from '../simulate/replay.ts';
import { sampleRequest } from '../simulate/sample.ts';
import { instances } from '../simulate/vocabulary.ts';

export interface Access {
  effect: Effect;
  /** masks that apply, `customers.email (partial)` */
  masks: string[];
  maxRows?: number;
  /** for review: the just-in-time grant an approval opens */
  grantTtl?: string;
  /** rules that decided, `policy/rule` */
  rules: string[];
}

export interface PermissionChange {
  direction: 'widen' | 'narrow';
  /** identities with exactly this change */
  identities: string[];
  target: string;
  action: string;
  /** the resource pattern as a rule or classification writes it (`public.*`), or `(unnamed)` for one no rule names */
  resource: string;
  namespace?: string;
  base: Access;
  head: Access;
  /** what changed, one phrase each: `effect deny → allow`, `mask customers.email (partial) removed`, `maxRows 1000 → none` */
  what: string[];
  /** a request that shows it, as a client would send it */
  example: string;
  /** where the head decides it (the first deciding rule; else the target's document) */
  file: string;
  line: number;
}

export interface PermissionDiff {
  base: string;
  head: string;
  /** points decided under both revisions */
  points: number;
  changes: PermissionChange[];
  widened: number;
  narrowed: number;
}

const rank: Record<Effect, number> = { deny: 0, review: 1, allow: 2 };
const INSTANTS = ['2025-01-06T12:00:00.000Z', '2025-01-11T03:00:00.000Z'];
const UNNAMED = '(unnamed)';
const unnamedResource: Record<TargetType, string> = { postgres: 'public.portcullis_unnamed', http: '/portcullis-unnamed', kubernetes: 'portcullisunnamed', mcp: 'portcullis-unnamed' };

export function permissionDiff(base: Bundle, head: Bundle): PermissionDiff {
  const pairs = new Map<string, Set<string>>();
  for (const b of [base, head]) for (const [t, ids] of coveredPairs(b)) for (const i of ids) (pairs.get(t) ?? pairs.set(t, new Set()).get(t)!).add(i);

  const found = new Map<string, Omit<PermissionChange, 'identities'> & { identities: Set<string> }>();
  let points = 0;
  for (const [targetName, ids] of [...pairs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Everything a decision on this target reads is the same in both revisions: nothing to compare.
    if (fingerprint(base, targetName) === fingerprint(head, targetName)) continue;
    const target = head.targets.get(targetName) ?? base.targets.get(targetName)!;
    const type = target.doc.spec.type;
    const resources = resourcesOf(targetName, type, [base, head]);
    const namespaces = type === 'kubernetes' ? namespacesOf(targetName, [base, head]) : [undefined];
    for (const identity of [...ids].sort()) {
      for (const action of actionsByType[type]) {
        for (const [resource, pattern] of resources) {
          for (const namespace of namespaces) {
            let strongest: { change: Omit<PermissionChange, 'identities'>; score: number } | undefined;
            for (const where of action === 'update' || action === 'delete' ? [true, false] : [true]) {
              for (const at of INSTANTS) {
                points++;
                const make = (b: Bundle) => {
                  const i = b.identities.get(identity);
                  return i
                    ? sampleRequest({ subject: { identity, groups: i.doc.spec.groups ?? [] }, target: targetName, type, action, resources: [resource], ...(namespace ? { namespace } : {}), where, at })
                    : undefined;
                };
                const rb = make(base);
                const rh = make(head);
                const request = rh ?? rb!;
                const a = accessOf(base, rb, request);
                const h = accessOf(head, rh, request);
                const change = compare(a, h);
                if (!change) continue;
                const score = (change.direction === 'widen' ? 100 : 0) + change.what.length;
                if (strongest && strongest.score >= score) continue;
                const loc = locate(change.what, a.decision, h.decision, head.targets.get(targetName) ?? target);
                strongest = {
                  score,
                  change: {
                    direction: change.direction,
                    target: targetName,
                    action,
                    resource: pattern,
                    ...(namespace ? { namespace } : {}),
                    base: a.access,
                    head: h.access,
                    what: change.what,
                    example: describeRequest(request),
                    ...loc,
                  },
                };
              }
            }
            if (!strongest) continue;
            const c = strongest.change;
            const key = JSON.stringify([c.target, c.action, c.resource, c.namespace ?? null, c.base, c.head]);
            const seen = found.get(key);
            if (seen) seen.identities.add(identity);
            else found.set(key, { ...c, identities: new Set([identity]) });
          }
        }
      }
    }
  }
  // One resource pattern can have several instances (`public.orders_*` → two names); one line each pattern.
  const changes = [...found.values()].map((c) => ({ ...c, identities: [...c.identities].sort() }));
  changes.sort((x, y) => (x.direction === y.direction ? 0 : x.direction === 'widen' ? -1 : 1) || (x.target < y.target ? -1 : x.target > y.target ? 1 : 0));
  return {
    base: shortRevision(base.revision),
    head: shortRevision(head.revision),
    points,
    changes,
    widened: changes.filter((c) => c.direction === 'widen').length,
    narrowed: changes.filter((c) => c.direction === 'narrow').length,
  };
}

interface Index {
  members: Map<string, Set<string>>;
  /** target -> the policies that cover it */
  policies: Map<string, Located<Policy>[]>;
}

const indexes = new WeakMap<Bundle, Index>();

function indexOf(b: Bundle): Index {
  let ix = indexes.get(b);
  if (ix) return ix;
  const members = new Map<string, Set<string>>();
  for (const [name, i] of b.identities) for (const g of i.doc.spec.groups ?? []) (members.get(g) ?? members.set(g, new Set()).get(g)!).add(name);
  const policies = new Map<string, Located<Policy>[]>();
  for (const p of b.policies) for (const t of targetsOf(p.doc.spec.targets, b.targets)) (policies.get(t.doc.metadata.name) ?? policies.set(t.doc.metadata.name, []).get(t.doc.metadata.name)!).push(p);
  ix = { members, policies };
  indexes.set(b, ix);
  return ix;
}

/** What decisions on a target depend on: the target, the policies covering it, and the groups of their subjects. */
function fingerprint(b: Bundle, target: string): string {
  const t = b.targets.get(target);
  if (!t) return '';
  const { members, policies: byTarget } = indexOf(b);
  const policies = byTarget.get(target) ?? [];
  const ids = new Set<string>();
  for (const p of policies) for (const i of reached(p.doc.spec.subjects, members)) ids.add(i);
  return canonicalJson({
    target: t.doc,
    policies: policies.map((p) => p.doc).sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : 1)),
    identities: [...ids].sort().map((i) => [i, b.identities.get(i)?.doc.spec.groups ?? null]),
  });
}

/** target -> identities some policy of the bundle names for it; every other pair is default deny in both. */
function coveredPairs(b: Bundle): Map<string, Set<string>> {
  const { members } = indexOf(b);
  const out = new Map<string, Set<string>>();
  for (const p of b.policies) {
    const ids = reached(p.doc.spec.subjects, members);
    for (const t of targetsOf(p.doc.spec.targets, b.targets)) {
      const set = out.get(t.doc.metadata.name) ?? out.set(t.doc.metadata.name, new Set()).get(t.doc.metadata.name)!;
      for (const i of ids) if (b.identities.has(i)) set.add(i);
    }
  }
  return out;
}

/** resource instance -> the pattern it stands for, from the rules and classifications of both revisions. */
function resourcesOf(target: string, type: TargetType, bundles: Bundle[]): Map<string, string> {
  const out = new Map<string, string>();
  const add = (pattern: string) => {
    for (const i of instances(pattern, type)) if (!out.has(i)) out.set(i, pattern);
  };
  for (const b of bundles) {
    const t = b.targets.get(target);
    if (t?.doc.spec.type === 'postgres') {
      for (const c of t.doc.spec.classification ?? []) for (const col of c.columns ?? []) add(col.split('.').slice(0, -1).join('.'));
    }
    for (const p of indexOf(b).policies.get(target) ?? []) {
      for (const r of p.doc.spec.rules) for (const res of r.resources ?? []) add(res);
    }
  }
  out.set(unnamedResource[type], UNNAMED);
  return out;
}

function namespacesOf(target: string, bundles: Bundle[]): (string | undefined)[] {
  const out = new Set<string>(['default']);
  for (const b of bundles) {
    for (const p of indexOf(b).policies.get(target) ?? []) {
      for (const r of p.doc.spec.rules) for (const ns of r.namespaces ?? []) for (const i of instances(ns, 'kubernetes')) out.add(i);
    }
  }
  return [...out].sort();
}

function accessOf(b: Bundle, request: Request | undefined, shown: Request): { access: Access; decision?: Decision } {
  if (!request) return { access: { effect: 'deny', masks: [], rules: [] } };
  const d = decide(b, request);
  const masks = d.effect === 'deny' ? [] : [...new Set(d.masks.filter((m) => touches(m, shown)).map(maskText))].sort();
  const grant = d.effect === 'review' ? d.review?.grantTtlMs : undefined;
  return {
    access: {
      effect: d.effect,
      masks,
      ...(d.effect !== 'deny' && d.maxRows !== undefined ? { maxRows: d.maxRows } : {}),
      ...(grant !== undefined ? { grantTtl: formatDuration(grant) } : {}),
      rules: d.rules.map((r) => `${r.policy}/${r.rule}`),
    },
    decision: d,
  };
}

function maskText(m: Mask): string {
  return `${m.kind === 'column' ? m.pattern.replace(/^\*\./, '') : m.kind === 'field' ? m.pattern : `${m.kind}:${m.pattern}`} (${m.strategy})`;
}

function compare(a: { access: Access }, h: { access: Access }): { direction: 'widen' | 'narrow'; what: string[] } | undefined {
  const widen: string[] = [];
  const narrow: string[] = [];
  const b = a.access;
  const n = h.access;
  if (rank[n.effect] > rank[b.effect]) widen.push(`effect ${b.effect} → ${n.effect}`);
  if (rank[n.effect] < rank[b.effect]) narrow.push(`effect ${b.effect} → ${n.effect}`);
  if (b.effect !== 'deny' && n.effect !== 'deny') {
    for (const m of b.masks) if (!n.masks.includes(m)) widen.push(`mask ${m} removed`);
    for (const m of n.masks) if (!b.masks.includes(m)) narrow.push(`mask ${m} added`);
    if (b.maxRows !== n.maxRows) ((n.maxRows ?? Infinity) > (b.maxRows ?? Infinity) ? widen : narrow).push(`maxRows ${b.maxRows ?? 'none'} → ${n.maxRows ?? 'none'}`);
  }
  if (b.effect === 'review' && n.effect === 'review' && b.grantTtl !== n.grantTtl) {
    const ms = (v: string | undefined) => (v === undefined ? 0 : parseDuration(v));
    (ms(n.grantTtl) > ms(b.grantTtl) ? widen : narrow).push(`grant after approval ${b.grantTtl ?? 'none'} → ${n.grantTtl ?? 'none'}`);
  }
  if (widen.length) return { direction: 'widen', what: [...widen, ...narrow] };
  if (narrow.length) return { direction: 'narrow', what: narrow };
  return undefined;
}

/** The head rule that decides; for a mask the head lost from a classification, the target's classification. */
function locate(what: readonly string[], b: Decision | undefined, h: Decision | undefined, target: Located<Target>): { file: string; line: number } {
  const effectChanged = what.some((w) => w.startsWith('effect '));
  if (!effectChanged && what.some((w) => w.startsWith('mask ') && w.endsWith(' removed')) && b?.masks.some((m) => m.source.startsWith('classification:'))) {
    const c = target.doc.spec.classification;
    return { file: target.origin.file, line: c ? target.origin.locate('/spec/classification').line : target.origin.line };
  }
  const rule = h?.rules[0];
  return rule ? { file: rule.file, line: rule.line } : { file: target.origin.file, line: target.origin.line };
}
