/**
 * The JSON masker walks every field path in one pass. It must select exactly what the path-by-path
 * reference (applyJsonPath per mask, strictest strategy per value, whole values) selects, and the
 * body masker must keep normalising documents whose masks matched nothing: duplicate keys are the
 * reason it re-serialises at all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Mask, MaskStrategy } from '../../runtime/engine/decision.ts';
import { maskBody, type BodyMaskPolicy } from '../../runtime/http-transport/masking/body.ts';
import { jsonMasker } from '../../runtime/http-transport/masking/json-mask.ts';
import { applyJsonPath, parseJsonPath, setOwn } from '../../runtime/http-transport/masking/json-path.ts';
import { maskJsonValue } from '../../runtime/http-transport/masking/values.ts';

const key = Buffer.from('json-mask-test-key');
const strictness: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

/** The masker before the one-pass walk: each path marks values, then the marks are settled. */
class Mark {
  // private fields, as the old masker had: later paths must not walk into a marked value
  readonly #value: unknown;
  #strategy: MaskStrategy;
  constructor(value: unknown, strategy: MaskStrategy) {
    this.#value = value;
    this.#strategy = strategy;
  }
  tighten(strategy: MaskStrategy): this {
    if (strictness[strategy] > strictness[this.#strategy]) this.#strategy = strategy;
    return this;
  }
  masked(): unknown {
    return maskJsonValue(this.#value, this.#strategy, key);
  }
}

function reference(masks: readonly Mask[], root: unknown): { value: unknown; count: number } {
  let value = root;
  let count = 0;
  for (const m of masks) {
    if (m.kind !== 'field') continue;
    value = applyJsonPath(value, parseJsonPath(m.pattern), (v) => (v instanceof Mark ? v.tighten(m.strategy) : new Mark(v, m.strategy)));
  }
  const settle = (node: unknown): unknown => {
    if (node instanceof Mark) {
      count++;
      return node.masked();
    }
    if (node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map(settle);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(node)) setOwn(out, k, settle((node as Record<string, unknown>)[k]));
    return out;
  };
  value = settle(value);
  return { value, count };
}

const names = ['email', 'a', 'b', '__proto__', 'items'];
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, 1, 'x', 'ada@example.com', 12.5),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...names), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const paths = ['$', '$..email', '$.email', '$.a.email', '$..a', '$.items[*].email', '$.items[0]', '$..*', '$.*.b', "$['__proto__'].email", '$..b[1]', '$..a..b'];
// `hash` of a value holding another selected value depended on the order of the masks before; the
// one-pass walk hashes the value as it is, so the comparison sticks to strategies without that case
const strategies: MaskStrategy[] = ['redact', 'null', 'partial'];
const masks = fc.array(
  fc.record({ pattern: fc.constantFrom(...paths), strategy: fc.constantFrom(...strategies) }).map((m) => ({ kind: 'field', ...m }) as Mask),
  { minLength: 1, maxLength: 3 },
);

describe('JSON masker', () => {
  it('selects what the path-by-path reference selects, with the same strategy and count', () => {
    fc.assert(
      fc.property(json, masks, (doc, ms) => {
        const text = JSON.stringify(doc);
        const want = reference(ms, JSON.parse(text));
        const got = jsonMasker(ms, key).apply(JSON.parse(text));
        expect(JSON.stringify(got.value)).toBe(JSON.stringify(want.value));
        expect(got.count).toBe(want.count);
      }),
      { numRuns: 3000 },
    );
  });

  it('hashes a selected value whole, whatever the mask order', () => {
    const doc = { a: { email: 'ada@example.com', b: 1 } };
    const one = jsonMasker(
      [
        { kind: 'field', pattern: '$..a', strategy: 'hash' },
        { kind: 'field', pattern: '$..email', strategy: 'hash' },
      ] as Mask[],
      key,
    );
    const two = jsonMasker(
      [
        { kind: 'field', pattern: '$..email', strategy: 'hash' },
        { kind: 'field', pattern: '$..a', strategy: 'hash' },
      ] as Mask[],
      key,
    );
    const a = one.apply(structuredClone(doc));
    expect(a).toEqual(two.apply(structuredClone(doc)));
    expect(a.count).toBe(1);
    expect(JSON.stringify(a.value)).not.toContain('ada@');
  });

  it('keeps a __proto__ member a member, masked inside and out', () => {
    const m = jsonMasker([{ kind: 'field', pattern: '$..email', strategy: 'redact' }] as Mask[], key);
    const { value, count } = m.apply(JSON.parse('{"__proto__":{"email":"ada@example.com"},"x":{"__proto__":"ada@example.com"}}'));
    expect(JSON.stringify(value)).toBe('{"__proto__":{"email":"***"},"x":{"__proto__":"ada@example.com"}}');
    expect(count).toBe(1);
    const whole = jsonMasker([{ kind: 'field', pattern: "$.x['__proto__']", strategy: 'redact' }] as Mask[], key);
    expect(JSON.stringify(whole.apply(JSON.parse('{"x":{"__proto__":"ada@example.com"}}')).value)).toBe('{"x":{"__proto__":"***"}}');
  });

  it('scrubs keys and values with the content detectors, renaming keys in place of order', () => {
    const m = jsonMasker([{ kind: 'content', pattern: 'email', strategy: 'redact' }] as Mask[], key);
    const { value, count } = m.apply(JSON.parse('{"ada@example.com":1,"b":["bob@example.com",2],"c":"plain"}'));
    expect(JSON.stringify(value)).toBe('{"[email]":1,"b":["[email]",2],"c":"plain"}');
    expect(count).toBe(2);
  });

  it('is compiled once per key and mask list', () => {
    const ms = [{ kind: 'field', pattern: '$..email', strategy: 'redact' }] as Mask[];
    expect(jsonMasker(ms, key)).toBe(jsonMasker([...ms.map((m) => ({ ...m }))], key));
    expect(jsonMasker(ms, key)).not.toBe(jsonMasker(ms, Buffer.from('another-key')));
  });
});

describe('masked bodies', () => {
  const policy = (pattern: string, kind: 'field' | 'content' = 'field'): BodyMaskPolicy => {
    const m = jsonMasker([{ kind, pattern, strategy: 'redact' }] as Mask[], key);
    return { target: 't', transform: (v) => m.apply(v), scrub: m.scrub, detectors: m.detectors, fieldNames: [], passUnmaskedContentTypes: [], limit: 1 << 20 };
  };

  it('re-serialise a document whose masks matched nothing: a first-wins parser must not find the twin', () => {
    // JSON.parse keeps the last `user`, which has no email: nothing matches, and yet the bytes as
    // sent would give a client that keeps the first duplicate the email
    const source = '{"user":{"email":"ada@example.com"},"user":{"name":"Ada"}}';
    const out = maskBody(Buffer.from(source), 'application/json', policy('$.user.email'));
    expect(out.count).toBe(0);
    expect(out.body.toString()).toBe('{"user":{"name":"Ada"}}');
    const scrubbed = maskBody(Buffer.from('{"note":"ada@example.com","note":"x"}'), 'application/json', policy('email', 'content'));
    expect(scrubbed.body.toString()).toBe('{"note":"x"}');
  });

  it('mask an escaped key and keep numbers exactly', () => {
    const out = maskBody(Buffer.from('{"\\u0065mail":"ada@example.com","n":12345678901234567890,"f":1.10}'), 'application/json', policy('$..email'));
    expect(out.body.toString()).toBe('{"email":"***","n":12345678901234567890,"f":1.10}');
    expect(out.count).toBe(1);
  });
});
