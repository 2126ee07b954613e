/**
 * "Every request rule A matches, rule B matches too": the relation behind shadowed, redundant,
 * duplicate and overridden rules. It is conservative: when containment cannot be shown cheaply
 * (two different globs, conditions on B) the answer is no, so these rules never cry wolf.
 */
import { compileMatcher, type Matcher } from '../engine/match.ts';
import { matchesEverything, normaliseRelationPattern } from '../engine/pattern.ts';
import { canonicalJson } from '../bundle/revision.ts';
import type { TargetType } from '../bundle/model.ts';
import type { RuleEntry } from './context.ts';

// A large repo compares many pairs of rules; what belongs to one rule is computed once.
const targetNames = new WeakMap<RuleEntry, Set<string>>();
const matchers = new WeakMap<readonly string[], Map<TargetType, Matcher>>();

function targetsOfRule(e: RuleEntry): Set<string> {
  let set = targetNames.get(e);
  if (!set) targetNames.set(e, (set = new Set(e.targets.map((t) => t.doc.metadata.name))));
  return set;
}

function matcherOf(patterns: readonly string[], type: TargetType): Matcher {
  let byType = matchers.get(patterns);
  if (!byType) matchers.set(patterns, (byType = new Map()));
  let m = byType.get(type);
  if (!m) byType.set(type, (m = compileMatcher(patterns, type)));
  return m;
}

export function covers(b: RuleEntry, a: RuleEntry): boolean {
  if (a === b) return false;
  if (a.identities.size === 0) return false;
  for (const i of a.identities) if (!b.identities.has(i)) return false;
  const bTargets = targetsOfRule(b);
  if (a.targets.length === 0 || !a.targets.every((t) => bTargets.has(t.doc.metadata.name))) return false;
  if (!actionsCovered(a.rule.actions, b.rule.actions)) return false;
  for (const type of a.types) {
    if (!patternsCovered(a.rule.resources, b.rule.resources, type)) return false;
  }
  if (!patternsCovered(a.rule.namespaces, b.rule.namespaces, 'kubernetes')) return false;
  // B applies unconditionally, or under exactly A's conditions.
  const bWhen = conditionsOf(b.rule.when);
  return bWhen === undefined || bWhen === conditionsOf(a.rule.when);
}

/** Same subjects, targets, actions, resources, namespaces and conditions. */
export function sameScope(a: RuleEntry, b: RuleEntry): boolean {
  return covers(a, b) && covers(b, a) && canonicalJson(a.rule.when ?? {}) === canonicalJson(b.rule.when ?? {});
}

function actionsCovered(a: readonly string[], b: readonly string[]): boolean {
  if (b.includes('*')) return true;
  if (a.includes('*')) return false;
  return a.every((x) => b.includes(x));
}

function patternsCovered(a: readonly string[] | undefined, b: readonly string[] | undefined, type: TargetType): boolean {
  if (!b || b.some((p) => matchesEverything(p, type))) return true;
  if (!a || a.some((p) => matchesEverything(p, type))) return false;
  const matcher = matcherOf(b, type);
  return a.every((p) => b.includes(p) || (!p.includes('*') && matcher.test(normalise(p, type))));
}

function normalise(p: string, type: TargetType): string {
  return type === 'postgres' ? normaliseRelationPattern(p) : p;
}

/** Conditions that restrict matching (maxRows limits results, it does not stop a rule matching). */
function conditionsOf(when: RuleEntry['rule']['when']): string | undefined {
  if (!when) return undefined;
  const { maxRows: _ignored, ...rest } = when;
  return Object.keys(rest).length === 0 ? undefined : canonicalJson(rest);
}
