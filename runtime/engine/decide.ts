/**
 * The decision engine: one pure function shared by every gateway and by the simulator. There is no
 * second implementation of policy semantics anywhere.
 *
 * Semantics: default deny; for each item of the request, deny beats review beats allow whatever
 * the order of rules or files; the request's effect is the strictest of its items; masks
 * accumulate from the target's classifications and from every rule that matched.
 */
import type { Bundle } from '../bundle/model.ts';
import type { Decision, Effect, Mask, ReviewRequirement, RuleRef, SessionLimits } from './decision.ts';
import type { Request, Subject } from './request.ts';
import type { CompiledRule, TargetIndex } from './compile.ts';
import type { ConditionInput } from './match.ts';
import { itemsOf, describeItem, type Item } from './items.ts';

const rank: Record<Effect, number> = { allow: 0, review: 1, deny: 2 };
const protocolOf = { postgres: 'postgres', http: 'http', kubernetes: 'kubernetes', mcp: 'mcp' } as const;

export function decide(bundle: Bundle, request: Request): Decision {
  const revision = bundle.revision;
  const target = bundle.index.targets.get(request.target);
  if (!target) {
    return { effect: 'deny', rules: [], masks: [], reason: `unknown target '${request.target}'`, revision };
  }
  if (protocolOf[target.type] !== request.protocol) {
    return { effect: 'deny', rules: [], masks: [], reason: `target '${target.name}' is ${target.type}, not ${request.protocol}`, revision };
  }
  const items = itemsOf(request);
  const input = conditionInput(request);
  const keys = subjectKeys(request.subject);

  let effect: Effect = 'allow';
  const deciding = new Map<number, CompiledRule>();
  const matchedAll = new Map<number, CompiledRule>();
  const uncovered: string[] = [];
  const unmet: string[] = [];
  const exploring = new Set<string>();
  let maxRows: number | undefined;

  for (const item of items) {
    const matched = matchingRules(target, keys, item, input, unmet);
    let itemEffect: Effect | undefined;
    for (const r of matched) {
      matchedAll.set(r.serial, r);
      if (itemEffect === undefined || rank[r.effect] > rank[itemEffect]) itemEffect = r.effect;
    }
    if (itemEffect === undefined) {
      uncovered.push(describeItem(item));
      if (item.also) exploring.add(item.also);
      itemEffect = 'deny';
    }
    if (rank[itemEffect] > rank[effect]) {
      effect = itemEffect;
      deciding.clear();
    }
    if (itemEffect === effect) {
      for (const r of matched) if (r.effect === effect) deciding.set(r.serial, r);
    }
    if (itemEffect === 'allow') {
      for (const r of matched) {
        const m = r.conditions.maxRows;
        if (r.effect === 'allow' && m !== undefined) maxRows = maxRows === undefined ? m : Math.min(maxRows, m);
      }
    }
  }

  // Order by names, not by position in files: permuting rules or files must not change a decision.
  const rules = [...deciding.values()].sort(byName);
  const masks = collectMasks(target, [...matchedAll.values()]);
  const refs: RuleRef[] = rules.map((r) => r.ref);
  const decision: Decision = { effect, rules: refs, masks, reason: '', revision };
  if (effect === 'review') {
    const review = rules.find((r) => r.review)?.review as ReviewRequirement;
    decision.review = review;
    decision.reason = `needs approval by ${review.count} of group${review.approverGroups.length > 1 ? 's' : ''} ${review.approverGroups.join(', ')} (rule ${names(refs)})`;
  } else if (effect === 'deny') {
    decision.reason =
      refs.length > 0
        ? `denied by rule ${names(refs)}`
        : `no rule allows ${uncovered.join(', ')} for ${request.subject.identity} on ${target.name}${unmet.length ? ` (${unique(unmet).sort().join('; ')})` : ''}${explorationHint(exploring)}`;
  } else {
    decision.reason = `allowed by rule ${names(refs)}`;
    if (maxRows !== undefined) decision.maxRows = maxRows;
  }
  return decision;
}

/** Tells a policy author which action covers a catalog read or a table-less SELECT. */
function explorationHint(actions: ReadonlySet<string>): string {
  if (actions.size === 0) return '';
  return `; a rule with action${actions.size > 1 ? 's' : ''} ${[...actions].sort().join(', ')} would allow ${actions.size > 1 ? 'them' : 'it'}`;
}

function byName(a: CompiledRule, b: CompiledRule): number {
  return cmp(a.ref.policy, b.ref.policy) || cmp(a.ref.rule, b.ref.rule);
}

function byMask(a: Mask, b: Mask): number {
  return cmp(a.kind, b.kind) || cmp(a.pattern, b.pattern) || cmp(a.strategy, b.strategy) || cmp(a.source, b.source);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function names(refs: readonly RuleRef[]): string {
  return refs.map((r) => `${r.policy}/${r.rule}`).join(', ');
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function subjectKeys(s: Subject): string[] {
  const keys = [`i:${s.identity}`];
  for (const g of s.groups) keys.push(`g:${g}`);
  return keys;
}

function conditionInput(req: Request): ConditionInput {
  switch (req.protocol) {
    case 'postgres':
      return { at: req.at, hasWhere: req.statement.hasWhere, statementText: req.statement.text };
    case 'http':
      return { at: req.at, path: req.path, query: req.query };
    case 'kubernetes':
      return { at: req.at };
    case 'mcp':
      return { at: req.at, arguments: req.arguments };
  }
}

function matchingRules(target: TargetIndex, keys: string[], item: Item, input: ConditionInput, unmet: string[]): CompiledRule[] {
  const out: CompiledRule[] = [];
  const seen = new Set<number>();
  for (const key of keys) {
    const buckets = target.bySubject.get(key);
    if (!buckets) continue;
    for (const list of [buckets.get(item.action), item.also !== undefined ? buckets.get(item.also) : undefined, buckets.get('*')]) {
      if (!list) continue;
      for (const r of list) {
        if (seen.has(r.serial)) continue;
        seen.add(r.serial);
        if (!r.resources.any && (item.resource === undefined || !r.resources.test(item.resource))) continue;
        if (!r.namespaces.any && (item.namespace === undefined || !r.namespaces.test(item.namespace))) continue;
        const why = r.conditions.unmet(input);
        if (why) {
          if (r.effect === 'allow') unmet.push(`rule ${r.ref.policy}/${r.ref.rule} ${why}`);
          continue;
        }
        out.push(r);
      }
    }
  }
  return out;
}

const sortedClassifications = new WeakMap<TargetIndex, readonly Mask[]>();

function collectMasks(target: TargetIndex, rules: CompiledRule[]): Mask[] {
  // Most decisions only carry the target's classifications: sort those once per bundle.
  if (!rules.some((r) => r.masks.length > 0)) {
    let sorted = sortedClassifications.get(target);
    if (!sorted) sortedClassifications.set(target, (sorted = dedupe(target.classificationMasks).sort(byMask)));
    return sorted as Mask[];
  }
  return dedupe([...target.classificationMasks, ...rules.flatMap((r) => r.masks)]).sort(byMask);
}

function dedupe(masks: readonly Mask[]): Mask[] {
  const out: Mask[] = [];
  const seen = new Set<string>();
  for (const m of masks) {
    const key = `${m.kind}\0${m.pattern}\0${m.strategy}\0${m.source}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
  }
  return out;
}

/** The strictest session limits of every policy covering this subject on this target. */
export function sessionLimits(bundle: Bundle, subject: Subject, targetName: string): SessionLimits {
  const target = bundle.index.targets.get(targetName);
  const out: SessionLimits = {};
  if (!target) return out;
  const keys = new Set(subjectKeys(subject));
  for (const { keys: ks, limits } of target.limits) {
    if (!ks.some((k) => keys.has(k))) continue;
    if (limits.maxDurationMs !== undefined) out.maxDurationMs = Math.min(out.maxDurationMs ?? Infinity, limits.maxDurationMs);
    if (limits.idleTimeoutMs !== undefined) out.idleTimeoutMs = Math.min(out.idleTimeoutMs ?? Infinity, limits.idleTimeoutMs);
  }
  return out;
}
