/**
 * What the invariant search draws from: the bundle's own words (rule resources and namespaces,
 * classified tables, group members) and the recorded traffic, ordered simplest first so that
 * fast-check's shrinking (towards index 0) ends on a readable counterexample.
 */
import type { Bundle } from '../bundle/model.ts';
import { targetsOf } from '../bundle/resolve.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { itemsOf } from '../engine/items.ts';
import { globInstances as instances } from '../engine/pattern.ts';

export interface Vocabulary {
  /** target name -> resources seen in rules, classifications and recordings */
  resources: Map<string, string[]>;
  /** target name -> Kubernetes namespaces */
  namespaces: Map<string, string[]>;
}

/** A glob's sample names; the pattern module says what a glob means. */
export { instances };

export function vocabularyOf(bundle: Bundle, recordings: readonly RecordedRequest[]): Vocabulary {
  const resources = new Map<string, Set<string>>();
  const namespaces = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, target: string, values: Iterable<string>) => {
    let set = map.get(target);
    if (!set) map.set(target, (set = new Set()));
    for (const v of values) set.add(v);
  };
  for (const [name, t] of bundle.targets) {
    add(resources, name, []);
    add(namespaces, name, []);
    if (t.doc.spec.type === 'postgres') {
      for (const c of t.doc.spec.classification ?? []) {
        for (const col of c.columns ?? []) {
          const parts = col.split('.');
          const table = parts.slice(0, -1).join('.');
          add(resources, name, instances(table, 'postgres'));
        }
      }
    }
  }
  for (const p of bundle.policies) {
    for (const t of targetsOf(p.doc.spec.targets, bundle.targets)) {
      const type = t.doc.spec.type;
      for (const r of p.doc.spec.rules) {
        for (const res of r.resources ?? []) add(resources, t.doc.metadata.name, instances(res, type));
        for (const ns of r.namespaces ?? []) add(namespaces, t.doc.metadata.name, instances(ns, 'kubernetes'));
      }
    }
  }
  for (const rec of recordings) {
    if (!bundle.targets.has(rec.request.target)) continue;
    for (const item of itemsOf(rec.request)) {
      if (item.resource !== undefined) add(resources, rec.request.target, [item.resource]);
      if (item.namespace !== undefined) add(namespaces, rec.request.target, [item.namespace]);
    }
  }
  const ordered = (m: Map<string, Set<string>>) => new Map([...m].map(([k, v]) => [k, [...v].sort((a, b) => a.length - b.length || (a < b ? -1 : 1))]));
  return { resources: ordered(resources), namespaces: ordered(namespaces) };
}
