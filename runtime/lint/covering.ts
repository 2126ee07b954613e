/**
 * Pairs (a, b) where rule b matches every request rule a matches, computed once per lint run and
 * shared by the shadowing, redundancy and override rules. Rules are bucketed by (target, action) so
 * a large repo compares only rules that could overlap, not every pair.
 */
import type { Facts, RuleEntry } from './context.ts';
import { covers } from './scope.ts';

export interface Cover {
  a: RuleEntry;
  b: RuleEntry;
}

const cache = new WeakMap<Facts, Cover[]>();

export function coveringPairs(facts: Facts): Cover[] {
  const hit = cache.get(facts);
  if (hit) return hit;
  const buckets = new Map<string, RuleEntry[]>();
  for (const e of facts.rules) {
    for (const t of e.targets) {
      for (const a of e.rule.actions) {
        const key = `${t.doc.metadata.name}\0${a}`;
        let list = buckets.get(key);
        if (!list) buckets.set(key, (list = []));
        list.push(e);
      }
    }
  }
  const out: Cover[] = [];
  for (const a of facts.rules) {
    const t = a.targets[0];
    const action = a.rule.actions[0];
    if (!t || !action) continue;
    const name = t.doc.metadata.name;
    const candidates = new Set([...(buckets.get(`${name}\0${action}`) ?? []), ...(buckets.get(`${name}\0*`) ?? [])]);
    for (const b of candidates) if (covers(b, a)) out.push({ a, b });
  }
  cache.set(facts, out);
  return out;
}

/** True when rule a is declared before rule b (policy name order, then rule order). */
export function before(a: RuleEntry, b: RuleEntry): boolean {
  const pa = a.policy.doc.metadata.name;
  const pb = b.policy.doc.metadata.name;
  return pa === pb ? a.index < b.index : pa < pb;
}
