/**
 * Masks a parsed JSON document in place. Working on the parsed value (never on the text) is what
 * makes the adversarial cases safe: `"\u0065mail"` is the key `email` once parsed, and of duplicate
 * keys JSON.parse keeps one, so the re-serialised output cannot carry an unmasked twin.
 *
 * Field masks select whole values by JSON path; when several select the same value the strictest
 * strategy wins, and a value inside a selected one is masked with it. All paths are walked together
 * in one pass (each node carries the path positions that reached it), and a member is written back
 * only when its value changed. Content masks then run the detectors they name over every string,
 * keys included (an object keyed by email addresses is as revealing as a list of them).
 */
import type { Mask, MaskStrategy } from '../../engine/decision.ts';
import { parseJsonPath, setOwn, type Step } from './json-path.ts';
import { maskJsonValue, scrubText } from './values.ts';
import type { Detector } from '../../masking/detectors.ts';
import { markedNumber } from './exact-numbers.ts';

const strictness: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

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

interface Field {
  steps: readonly Step[];
  strategy: MaskStrategy;
}

/** A path position: field `f` has matched its steps before `at`. */
interface State {
  f: number;
  at: number;
}

/** Compiled maskers by masking key and mask list: a target's masks are the same request after request. */
const compiled = new WeakMap<Buffer, Map<string, JsonMasker>>();
const COMPILED_MAX = 256;

export function jsonMasker(masks: readonly Mask[], key: Buffer): JsonMasker {
  let byMasks = compiled.get(key);
  if (!byMasks) compiled.set(key, (byMasks = new Map()));
  let id = '';
  for (const m of masks) id += `${m.kind}\0${m.pattern}\0${m.strategy}\n`;
  let masker = byMasks.get(id);
  if (!masker) {
    // compile first: an invalid path throws and nothing half-built is remembered
    masker = compile(masks, key);
    if (byMasks.size >= COMPILED_MAX) byMasks.clear();
    byMasks.set(id, masker);
  }
  return masker;
}

function compile(masks: readonly Mask[], key: Buffer): JsonMasker {
  const fields: Field[] = [];
  const detectors = new Set<Detector>();
  for (const m of masks) {
    if (m.kind === 'field') fields.push({ steps: parseJsonPath(m.pattern), strategy: m.strategy });
    else if (m.kind === 'content') detectors.add(m.pattern as Detector);
  }
  const scrub = detectors.size > 0;
  const start: State[] = fields.map((_, f) => ({ f, at: 0 }));
  return {
    active: fields.length > 0 || scrub,
    scrub,
    detectors,
    apply(root) {
      const counter = { n: 0 };
      let value = fields.length > 0 ? walk(root, start, fields, key, counter) : root;
      if (scrub) value = scrubAll(value, detectors, counter);
      return { value, count: counter.n };
    },
  };
}

/** The node masked whole when a path ends here, else its children walked with the states they reach. */
function walk(node: unknown, states: readonly State[], fields: readonly Field[], key: Buffer, counter: { n: number }): unknown {
  let strategy: MaskStrategy | undefined;
  for (const s of states) {
    const field = fields[s.f]!;
    if (s.at === field.steps.length && (strategy === undefined || strictness[field.strategy] > strictness[strategy])) strategy = field.strategy;
  }
  if (strategy !== undefined) {
    counter.n++;
    return maskJsonValue(node, strategy, key);
  }
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      const next = childStates(states, fields, undefined, i, child);
      if (next === undefined) continue;
      const out = walk(child, next, fields, key, counter);
      if (out !== child) node[i] = out;
    }
    return node;
  }
  const rec = node as Record<string, unknown>;
  for (const name of Object.keys(rec)) {
    const child = rec[name];
    const next = childStates(states, fields, name, -1, child);
    if (next === undefined) continue;
    const out = walk(child, next, fields, key, counter);
    // plain assignment to `__proto__` would change the prototype instead of the member JSON.parse made
    if (out !== child) {
      if (name === '__proto__') setOwn(rec, name, out);
      else rec[name] = out;
    }
  }
  return node;
}

/**
 * The states a child (member `name`, or element `index` when name is undefined) is reached with;
 * undefined when walking it cannot mask anything (no path reaches it, or only paths that must go
 * deeper into a value that has no children).
 */
function childStates(states: readonly State[], fields: readonly Field[], name: string | undefined, index: number, child: unknown): State[] | undefined {
  const container = child !== null && typeof child === 'object';
  let out: State[] | undefined;
  for (const s of states) {
    const steps = fields[s.f]!.steps;
    if (s.at >= steps.length) continue;
    const step = steps[s.at]!;
    if (step.kind === 'descend') {
      if (takes(step.step, name, index)) out = reach(out, fields, s.f, s.at + 1, container);
      out = reach(out, fields, s.f, s.at, container);
    } else if (takes(step, name, index)) out = reach(out, fields, s.f, s.at + 1, container);
  }
  return out;
}

// Module-level on purpose: tsx compiles with keepNames, so a named closure made per call costs an
// Object.defineProperty per call (it was most of this masker's time).
function reach(out: State[] | undefined, fields: readonly Field[], f: number, at: number, container: boolean): State[] | undefined {
  // a value with no children matters only to a path that ends at it
  if (!container && at !== fields[f]!.steps.length) return out;
  if (out === undefined) return [{ f, at }];
  for (const s of out) if (s.f === f && s.at === at) return out;
  out.push({ f, at });
  return out;
}

function takes(step: Exclude<Step, { kind: 'descend' }>, name: string | undefined, index: number): boolean {
  switch (step.kind) {
    case 'any':
      return true;
    case 'child':
      return name === step.name;
    case 'index':
      return name === undefined && index === step.index;
  }
}

/** Like the shared scrubJson, but in place where no key changes, and `__proto__` stays a member. */
function scrubAll(node: unknown, detectors: ReadonlySet<Detector>, counter: { n: number }): unknown {
  if (typeof node === 'string') {
    // a number kept exactly is still a number: detectors read strings only
    if (markedNumber(node) !== undefined) return node;
    const { text, count } = scrubText(node, detectors);
    counter.n += count;
    return text;
  }
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const out = scrubAll(node[i], detectors, counter);
      if (out !== node[i]) node[i] = out;
    }
    return node;
  }
  const rec = node as Record<string, unknown>;
  const names = Object.keys(rec);
  let renamed: string[] | undefined;
  for (let i = 0; i < names.length; i++) {
    const { text, count } = scrubText(names[i]!, detectors);
    if (count === 0) continue;
    counter.n += count;
    (renamed ??= names.slice())[i] = text;
  }
  if (renamed === undefined) {
    for (const name of names) {
      const child = rec[name];
      const out = scrubAll(child, detectors, counter);
      if (out !== child) {
        if (name === '__proto__') setOwn(rec, name, out);
        else rec[name] = out;
      }
    }
    return rec;
  }
  // a key held a match: a new object in the same order (two keys that scrub alike: the last wins)
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) setOwn(out, renamed[i]!, scrubAll(rec[names[i]!], detectors, counter));
  return out;
}
