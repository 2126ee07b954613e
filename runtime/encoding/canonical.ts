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

  /** Text the caller built from canonical pieces (a cached prefix, a fresh string, a cached suffix). */
  static ofCanonical(json: string): CanonicalFragment {
    const f = Object.create(CanonicalFragment.prototype) as { json: string };
    f.json = json;
    return f as CanonicalFragment;
  }
}

/**
 * A value encoded once with one string member left open: `fill(s)` is canonical(value with that
 * member set to s), for the price of encoding s alone. Gateways record the same analysed statement
 * under many texts (literals that differ), so the rest of it is encoded once.
 */
export class CanonicalWithSlot {
  private readonly before: string;
  private readonly after: string;
  /**
   * The value without the member, encoded once: evidence v2 writes it once as a fact (a statement
   * template with its analysis) and each record references it with its own text.
   */
  readonly member: string;
  private readonly value: Record<string, unknown>;
  private encodedTemplate: CanonicalFragment | undefined;
  constructor(value: Record<string, unknown>, member: string) {
    this.member = member;
    this.value = value;
    const mark = `\u0000portcullis-slot-${Math.random().toString(36).slice(2)}\u0000`;
    const parts = canonical({ ...value, [member]: mark }).split(JSON.stringify(mark));
    if (parts.length !== 2) throw new PortcullisError('internal', 'canonical slot marker is not unique');
    this.before = parts[0]!;
    this.after = parts[1]!;
  }
  /** encoded on first use: only a v2 log with the statement hint asks for it */
  get template(): CanonicalFragment {
    this.encodedTemplate ??= new CanonicalFragment({ ...this.value, [this.member]: undefined });
    return this.encodedTemplate;
  }

  fill(text: string): CanonicalFragment {
    return CanonicalFragment.ofCanonical(this.before + JSON.stringify(text) + this.after);
  }
}

export function canonical(value: unknown): string {
  const out = encode(value, []);
  if (out === undefined) throw new PortcullisError('invalid_argument', 'cannot encode undefined as canonical JSON');
  return out;
}

/**
 * `stack` holds the objects being encoded on the path from the root (for cycle detection): records
 * are a few levels deep, so a linear scan of a small array beats a Set's hashing.
 */
function encode(value: unknown, stack: object[]): string | undefined {
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
  if (value instanceof CanonicalFragment) return value.json;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // toJSON may return anything, a primitive included: encode its result from the top.
    return encodeConverted((value as { toJSON: () => unknown }).toJSON(), stack);
  }
  return encodeObject(value as object, stack);
}

function encodeObject(obj: object, stack: object[]): string {
  if (stack.includes(obj)) throw new PortcullisError('invalid_argument', 'canonical JSON cannot hold a circular structure');
  stack.push(obj);
  try {
    if (Array.isArray(obj)) {
      let out = '[';
      for (let i = 0; i < obj.length; i++) {
        if (i > 0) out += ',';
        out += encode(obj[i], stack) ?? 'null';
      }
      return `${out}]`;
    }
    const keys = Object.keys(obj).sort();
    let out = '{';
    let first = true;
    for (const key of keys) {
      const encoded = encode((obj as Record<string, unknown>)[key], stack);
      if (encoded === undefined) continue;
      out += first ? `${JSON.stringify(key)}:${encoded}` : `,${JSON.stringify(key)}:${encoded}`;
      first = false;
    }
    return `${out}}`;
  } finally {
    stack.pop();
  }
}

/** The result of a toJSON is encoded as it is: like JSON.stringify, its own toJSON is not called. */
function encodeConverted(value: unknown, stack: object[]): string | undefined {
  if (value !== null && typeof value === 'object') return encodeObject(value, stack);
  return encode(value, stack);
}
