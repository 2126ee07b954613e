/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, otherwise exactly
 * JSON.stringify's rules (toJSON, undefined members dropped, non-finite numbers as null). Hashes are
 * computed over this text, so it must be a fixed point: canonical(JSON.parse(canonical(x))) equals
 * canonical(x) — a verifier that re-parses a record recomputes the writer's hash.
 */
import { PortcullisError } from '../errors.ts';

/**
 * A value already encoded as canonical JSON. Gateways decide the same statement again and again;
 * encoding its (immutable) decision once and splicing the text into every record keeps the cost of
 * audit-before-action per statement small.
 */
export class CanonicalFragment {
  readonly json: string;
  constructor(value: unknown) {
    this.json = canonical(value);
  }
  toJSON(): unknown {
    return JSON.parse(this.json);
  }
}

export function canonical(value: unknown): string {
  const out = encode(value, new Set());
  if (out === undefined) throw new PortcullisError('invalid_argument', 'cannot encode undefined as canonical JSON');
  return out;
}

function encode(value: unknown, seen: Set<object>): string | undefined {
  if (value instanceof CanonicalFragment) return value.json;
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new PortcullisError('invalid_argument', 'canonical JSON cannot hold a bigint; convert it to a string');
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (seen.has(obj)) throw new PortcullisError('invalid_argument', 'canonical JSON cannot hold a circular structure');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item) => encode(item, seen) ?? 'null').join(',')}]`;
    }
    const parts: string[] = [];
    for (const key of Object.keys(obj).sort()) {
      const encoded = encode((obj as Record<string, unknown>)[key], seen);
      if (encoded !== undefined) parts.push(`${JSON.stringify(key)}:${encoded}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}
