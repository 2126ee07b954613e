import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'catastrophic-regex',
  severity: 'error',
  title: 'A regular expression can take exponential time (ReDoS)',
  explanation:
    "Rule conditions (statementPattern, pathPattern, query and arguments) are regular expressions run by the gateway on text the agent controls. A quantified group that itself contains a quantifier, such as (a+)+, (\\w+\\s?)*, or a repeated alternation with identical branches, such as (a|a)*, makes a backtracking engine try exponentially many ways to match a near-miss input: one crafted request can stall a gateway worker. Such patterns are rejected.",
  fix: 'Remove the nesting: (a+)+ is a+, (\\w+\\s?)+ is [\\w\\s]+; anchor the pattern and prefer character classes over alternations.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const p of ctx.bundle?.policies ?? []) {
      p.doc.spec.rules.forEach((rule, r) => {
        const when = rule.when;
        if (!when) return;
        const patterns: [string, string | undefined][] = [
          ['statementPattern', when.statementPattern],
          ['pathPattern', when.pathPattern],
          ...Object.entries(when.query ?? {}).map(([k, v]) => [`query/${k}`, v] as [string, string | undefined]),
          ...Object.entries(when.arguments ?? {}).map(([k, v]) => [`arguments/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, v] as [string, string | undefined]),
        ];
        for (const [key, source] of patterns) {
          if (source === undefined) continue;
          const problem = backtrackingProblem(source);
          if (problem) out.push({ message: `rule '${rule.id}': /${source}/ ${problem}`, at: { origin: p.origin, pointer: `/spec/rules/${r}/when/${key}` } });
        }
      });
    }
    return out;
  },
} satisfies LintRule;

interface Frame {
  start: number;
  /** an unbounded quantifier somewhere inside */
  unbounded: boolean;
  branches: string[];
  branchStart: number;
}

/** A small scan of the pattern's structure: groups, alternatives and quantifiers. */
export function backtrackingProblem(source: string): string | undefined {
  const stack: Frame[] = [{ start: 0, unbounded: false, branches: [], branchStart: 0 }];
  let i = 0;
  const quantifierAt = (j: number): { repeats: boolean; unbounded: boolean; length: number } | undefined => {
    const c = source[j];
    if (c === '*' || c === '+') return { repeats: true, unbounded: true, length: 1 + (source[j + 1] === '?' || source[j + 1] === '+' ? 1 : 0) };
    if (c === '?') return { repeats: false, unbounded: false, length: 1 };
    if (c === '{') {
      const m = /^\{(\d*)(,(\d*))?\}\??/.exec(source.slice(j));
      if (!m) return undefined;
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      return { repeats: max > 1, unbounded: max === Infinity || max > 16, length: m[0].length };
    }
    return undefined;
  };
  while (i < source.length) {
    const c = source[i]!;
    const top = stack[stack.length - 1]!;
    if (c === '\\') {
      i += 2;
    } else if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      i = j + 1;
    } else if (c === '(') {
      let j = i + 1;
      if (source[j] === '?') {
        const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_]\w*>)/.exec(source.slice(j));
        j += m ? m[0].length : 1;
      }
      stack.push({ start: i, unbounded: false, branches: [], branchStart: j });
      i = j;
      continue;
    } else if (c === '|') {
      top.branches.push(source.slice(top.branchStart, i));
      top.branchStart = i + 1;
      i++;
      continue;
    } else if (c === ')') {
      if (stack.length === 1) return undefined; // unbalanced: the loader reports invalid patterns
      const frame = stack.pop()!;
      frame.branches.push(source.slice(frame.branchStart, i));
      const q = quantifierAt(i + 1);
      const parent = stack[stack.length - 1]!;
      if (q?.repeats) {
        const group = source.slice(frame.start, i + 1 + q.length);
        if (frame.unbounded) return `nests quantifiers in ${group}: a near-miss input takes exponential time`;
        const dup = frame.branches.find((b, k) => frame.branches.indexOf(b) !== k);
        if (dup !== undefined) return `repeats an alternation with identical branches '${dup}' in ${group}`;
        if (frame.branches.includes('')) return `repeats an alternation with an empty branch in ${group}`;
      }
      parent.unbounded ||= frame.unbounded || (q?.unbounded ?? false);
      i += 1 + (q?.length ?? 0);
      continue;
    } else {
      i++;
    }
    const q = quantifierAt(i);
    if (q) {
      top.unbounded ||= q.unbounded;
      i += q.length;
    }
  }
  return undefined;
}
