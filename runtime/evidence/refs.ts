/**
 * Format v2 references: a record's `refs` name, by dot-separated member path, values written once
 * as fact records. Writers (a v1 log, which holds whole records) and readers put them back the
 * same way, so a record means the same whichever format holds it: the value is set at its path,
 * and where the record already holds an object there (a statement's text beside its template), the
 * record's own members win over the fact's.
 */
import { CanonicalFragment } from '../encoding/canonical.ts';

export function expandRefs(data: unknown, refs: Record<string, unknown>): unknown {
  let out = data;
  for (const path in refs) out = setPath(out, path.split('.'), 0, refs[path]);
  return out;
}

/** Writer side: the facts are still encoded; a merge decodes the fact (v1 logs only). */
export function mergeRefs(data: unknown, refs: Record<string, CanonicalFragment> | undefined): unknown {
  if (!refs) return data;
  let out = data;
  for (const path in refs) out = setPath(out, path.split('.'), 0, refs[path], true);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof CanonicalFragment);
}

/** A copy of `target` with `value` at `path` (objects along the path are copied, never mutated). */
function setPath(target: unknown, path: string[], i: number, value: unknown, decode = false): unknown {
  const key = path[i] as string;
  const obj: Record<string, unknown> = isPlainObject(target) ? { ...target } : target instanceof CanonicalFragment ? { ...(target.toJSON() as object) } : {};
  if (i === path.length - 1) {
    const own = obj[key];
    if (isPlainObject(own)) {
      const fact = decode && value instanceof CanonicalFragment ? value.toJSON() : value;
      obj[key] = isPlainObject(fact) ? { ...fact, ...own } : fact;
    } else if (own === undefined) {
      obj[key] = value;
    } else {
      obj[key] = own;
    }
  } else {
    obj[key] = setPath(obj[key], path, i + 1, value, decode);
  }
  return obj;
}
