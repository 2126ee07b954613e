/**
 * Masks a parsed JSON document in place. Working on the parsed value (never on the text) is what
 * makes the adversarial cases safe: `"\u0065mail"` is the key `email` once parsed, and of duplicate
 * keys JSON.parse keeps one, so the re-serialised output cannot carry an unmasked twin.
 *
 * Field masks select whole values by JSON path; when several select the same value the strictest
 * strategy wins. Content masks then run the detectors they name over every string, keys included
 * (an object keyed by email addresses is as revealing as a list of them).
 */
import type { Mask, MaskStrategy } from '../../engine/decision.ts';
import { applyJsonPath, parseJsonPath, setOwn, type Step } from './json-path.ts';
import { maskJsonValue, scrubText } from './values.ts';
import type { Detector } from '../../masking/detectors.ts';
import { markedNumber } from './exact-numbers.ts';

const strictness: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

/** A selected value waiting for its strategy; private fields keep it invisible to later paths. */
class Selected {
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
  masked(key: Buffer): unknown {
    return maskJsonValue(this.#value, this.#strategy, key);
  }
}

export interface JsonMasker {
  /** true when some mask can change a JSON body */
  readonly active: boolean;
  /** a content mask applies: every string gets the detectors */
  readonly scrub: boolean;
  /** the detectors the content masks name */
  readonly detectors: ReadonlySet<Detector>;
  /** mask in place; returns the (possibly replaced) root and how many values were masked */
  apply(root: unknown): { value: unknown; count: number };
}

export function jsonMasker(masks: readonly Mask[], key: Buffer): JsonMasker {
  const fields: { steps: Step[]; strategy: MaskStrategy }[] = [];
  const detectors = new Set<Detector>();
  for (const m of masks) {
    if (m.kind === 'field') fields.push({ steps: parseJsonPath(m.pattern), strategy: m.strategy });
    else if (m.kind === 'content') detectors.add(m.pattern as Detector);
  }
  const scrub = detectors.size > 0;
  return {
    active: fields.length > 0 || scrub,
    scrub,
    detectors,
    apply(root) {
      let value = root;
      let count = 0;
      if (fields.length > 0) {
        for (const f of fields) {
          value = applyJsonPath(value, f.steps, (v) => (v instanceof Selected ? v.tighten(f.strategy) : new Selected(v, f.strategy)));
        }
        value = settle(value, key, () => count++);
      }
      if (scrub) value = scrubAll(value, detectors, (n) => (count += n));
      return { value, count };
    },
  };
}

function settle(node: unknown, key: Buffer, counted: () => void): unknown {
  if (node instanceof Selected) {
    counted();
    return node.masked(key);
  }
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = settle(node[i], key, counted);
  } else {
    const rec = node as Record<string, unknown>;
    for (const k of Object.keys(rec)) setOwn(rec, k, settle(rec[k], key, counted));
  }
  return node;
}

/** Like the shared scrubJson, but writes members with setOwn so a `__proto__` key stays a member. */
function scrubAll(node: unknown, detectors: ReadonlySet<Detector>, counted: (n: number) => void): unknown {
  // a number kept exactly is still a number: detectors read strings only
  if (markedNumber(node) !== undefined) return node;
  if (typeof node === 'string') {
    const { text, count } = scrubText(node, detectors);
    if (count > 0) counted(count);
    return text;
  }
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = scrubAll(node[i], detectors, counted);
    return node;
  }
  const rec = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(rec)) {
    const { text, count } = scrubText(key, detectors);
    if (count > 0) counted(count);
    setOwn(out, text, scrubAll(rec[key], detectors, counted));
  }
  return out;
}
