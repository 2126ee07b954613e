/**
 * A tool's `outputSchema` as the agent sees it through the gateway. Field masks turn a value into a
 * string (`***`, a keyed hash, `a***@example.com`) or null, whatever its type was: a number masked
 * in `structuredContent` would then fail the schema the server declared, and the SDK client rejects
 * the whole result. So the listed schema is widened exactly where a field mask can act: every
 * property whose name a field mask ends in also admits a string or null, and says so. The values
 * that are not masked keep their declared types, and the mask itself stays what it is everywhere
 * else (a type-preserving fake number would look like data).
 */
import type { Mask } from '../../engine/decision.ts';
import { fieldNamesOf } from '../../http-transport/masking/field-names.ts';
import { parseJsonPath } from '../../http-transport/masking/json-path.ts';

export const MASKED_NOTE = 'masked by portcullis: a string (or null) where a field mask applies';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Targets {
  /** properties a mask's last member names (`$..email`) */
  names: Set<string>;
  /** array properties whose elements a mask selects (`$.scores[*]`, `$..ids[0]`) */
  arrays: Set<string>;
  /** a mask selects every value (`$..*`): every property widens */
  all: boolean;
}

function targetsOf(masks: readonly Mask[]): Targets {
  const t: Targets = { names: new Set(fieldNamesOf(masks)), arrays: new Set(), all: false };
  for (const m of masks) {
    if (m.kind !== 'field') continue;
    const steps = parseJsonPath(m.pattern).map((s) => (s.kind === 'descend' ? s.step : s));
    const last = steps.at(-1);
    if (last?.kind !== 'any' && last?.kind !== 'index') continue;
    const prev = steps.at(-2);
    if (prev?.kind === 'child') t.arrays.add(prev.name);
    else t.all = true;
  }
  return t;
}

/** The schema with masked properties widened; the input is not modified. */
export function widenOutputSchema(schema: unknown, masks: readonly Mask[]): unknown {
  const t = targetsOf(masks);
  if ((t.names.size === 0 && t.arrays.size === 0 && !t.all) || !isObj(schema)) return schema;
  return widen(schema, t, 0);
}

const MAX_DEPTH = 64;

const admitMask = (inner: unknown): Obj => ({ anyOf: [inner, { type: ['string', 'null'], description: MASKED_NOTE }] });

function setOwn(o: Obj, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
}

function widen(node: unknown, t: Targets, depth: number): unknown {
  if (depth > MAX_DEPTH) return node;
  if (Array.isArray(node)) return node.map((n) => widen(n, t, depth + 1));
  if (!isObj(node)) return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && isObj(v)) {
      const props: Obj = {};
      for (const [name, sub] of Object.entries(v)) {
        let inner = widen(sub, t, depth + 1);
        if (t.arrays.has(name) && isObj(inner) && inner.items !== undefined) inner = { ...inner, items: admitMask(inner.items) };
        setOwn(props, name, t.all || t.names.has(name) ? admitMask(inner) : inner);
      }
      out[k] = props;
    } else setOwn(out, k, widen(v, t, depth + 1));
  }
  return out;
}
