/**
 * The JSON path subset masks use: `$`, `.name`, `['name']`, `..name` (at any depth), `.*` / `[*]`
 * (every member or element) and `[n]`. Paths are parsed once per mask; an unsupported path is a
 * `invalid_policy` error, because silently matching nothing would leave data unmasked.
 */
import { PortcullisError } from '../../errors.ts';

export type Step =
  | { kind: 'child'; name: string }
  | { kind: 'any' }
  | { kind: 'index'; index: number }
  /** `..name` or `..*`: the step applies at this node and at every descendant */
  | { kind: 'descend'; step: Exclude<Step, { kind: 'descend' }> };

const cache = new Map<string, Step[]>();

export function parseJsonPath(path: string): Step[] {
  const cached = cache.get(path);
  if (cached) return cached;
  const steps = parse(path);
  if (cache.size > 1000) cache.clear();
  cache.set(path, steps);
  return steps;
}

function bad(path: string, why: string): PortcullisError {
  return new PortcullisError('invalid_policy', `JSON path ${JSON.stringify(path)} ${why}`, {
    details: { hint: "use $.a.b, $..name, $.items[*].name, $.items[0].name or $['odd key']" },
  });
}

function parse(path: string): Step[] {
  if (!path.startsWith('$')) throw bad(path, 'must start with $');
  const steps: Step[] = [];
  let i = 1;
  const name = /^[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff-]*/;
  while (i < path.length) {
    let descend = false;
    let step: Exclude<Step, { kind: 'descend' }> | undefined;
    if (path.startsWith('..', i)) {
      descend = true;
      i += 2;
      if (path[i] === '[') step = bracket();
      else if (path[i] === '*') {
        step = { kind: 'any' };
        i++;
      } else {
        const m = name.exec(path.slice(i));
        if (!m) throw bad(path, `has no name after '..' at offset ${i}`);
        step = { kind: 'child', name: m[0] };
        i += m[0].length;
      }
    } else if (path[i] === '.') {
      i++;
      if (path[i] === '*') {
        step = { kind: 'any' };
        i++;
      } else {
        const m = name.exec(path.slice(i));
        if (!m) throw bad(path, `has no name after '.' at offset ${i}`);
        step = { kind: 'child', name: m[0] };
        i += m[0].length;
      }
    } else if (path[i] === '[') {
      step = bracket();
    } else {
      throw bad(path, `has an unexpected ${JSON.stringify(path[i])} at offset ${i}`);
    }
    steps.push(descend ? { kind: 'descend', step } : step);
  }
  return steps;

  function bracket(): Exclude<Step, { kind: 'descend' }> {
    const close = path.indexOf(']', i);
    if (close < 0) throw bad(path, `has an unclosed '[' at offset ${i}`);
    const inner = path.slice(i + 1, close).trim();
    i = close + 1;
    if (inner === '*') return { kind: 'any' };
    if (/^\d+$/.test(inner)) return { kind: 'index', index: Number(inner) };
    const quoted = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(inner);
    if (quoted) return { kind: 'child', name: (quoted[1] ?? quoted[2] ?? '').replace(/\\(.)/g, '$1') };
    throw bad(path, `has an unsupported selector [${inner}] (filters and slices are not supported)`);
  }
}

/**
 * Replace every value the path selects, in place. `replace` gets the selected value and returns its
 * masked form; a selected value inside an already-selected one is masked with it (whole values).
 */
export function applyJsonPath(root: unknown, steps: readonly Step[], replace: (value: unknown) => unknown): unknown {
  return visit(root, 0);

  function visit(node: unknown, at: number): unknown {
    if (at === steps.length) return replace(node);
    const step = steps[at]!;
    if (step.kind === 'descend') {
      // the step applies here, then the same descend step applies to every child
      let out = applyStep(node, step.step, at);
      if (out !== null && typeof out === 'object') out = eachChild(out, (child) => visit(child, at));
      return out;
    }
    return applyStep(node, step, at);
  }

  function applyStep(node: unknown, step: Exclude<Step, { kind: 'descend' }>, at: number): unknown {
    if (node === null || typeof node !== 'object') return node;
    switch (step.kind) {
      case 'any':
        return eachChild(node, (child) => visit(child, at + 1));
      case 'index':
        if (Array.isArray(node) && step.index < node.length) node[step.index] = visit(node[step.index], at + 1);
        return node;
      case 'child':
        if (!Array.isArray(node) && Object.hasOwn(node, step.name)) {
          setOwn(node as Record<string, unknown>, step.name, visit((node as Record<string, unknown>)[step.name], at + 1));
        }
        return node;
    }
  }
}

function eachChild(node: object, f: (child: unknown) => unknown): object {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = f(node[i]);
  } else {
    const rec = node as Record<string, unknown>;
    for (const key of Object.keys(rec)) setOwn(rec, key, f(rec[key]));
  }
  return node;
}

/** Plain assignment to `__proto__` would change the prototype instead of the member JSON.parse made. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}
