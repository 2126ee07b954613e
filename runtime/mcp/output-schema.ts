/**
 * A tool's `outputSchema` as the agent sees it through the gateway. Field masks turn a value into a
 * string (`***`, a keyed hash, `a***@example.com`) or null, whatever its type was: a number masked
 * in `structuredContent` would then fail the schema the server declared, and the SDK client rejects
 * the whole result. So the listed schema is widened exactly where a field mask can act: every
 * property whose name a field mask ends in also admits a string or null, and says so. The values
 * that are not masked keep their declared types, and the mask itself stays what it is everywhere
 * else (a type-preserving fake number would look like data).
 */
import type { Mask } from '../engine/decision.ts';
import { fieldNamesOf } from '../http/proxy.ts';

export const MASKED_NOTE = 'masked by portcullis: a string (or null) where a field mask applies';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The schema with masked properties widened; the input is not modified. */
export function widenOutputSchema(schema: unknown, masks: readonly Mask[]): unknown {
  const names = new Set(fieldNamesOf(masks));
  if (names.size === 0 || !isObj(schema)) return schema;
  return widen(schema, names, 0);
}

const MAX_DEPTH = 64;

function widen(node: unknown, names: ReadonlySet<string>, depth: number): unknown {
  if (depth > MAX_DEPTH) return node;
  if (Array.isArray(node)) return node.map((n) => widen(n, names, depth + 1));
  if (!isObj(node)) return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && isObj(v)) {
      const props: Obj = {};
      for (const [name, sub] of Object.entries(v)) {
        const inner = widen(sub, names, depth + 1);
        Object.defineProperty(props, name, { value: names.has(name) ? { anyOf: [inner, { type: ['string', 'null'], description: MASKED_NOTE }] } : inner, enumerable: true, writable: true, configurable: true });
      }
      out[k] = props;
    } else Object.defineProperty(out, k, { value: widen(v, names, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
