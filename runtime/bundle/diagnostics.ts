/**
 * Diagnostics are how the bundle loader and the linter talk about a policy repo: every problem
 * names file:line:col, says what was expected and, where it can, what the user probably meant.
 */
import { PortcullisError } from '../errors.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  /** stable id of the check, e.g. `schema`, `unresolved-reference`, `inline-secret` */
  code: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  column: number;
  hint?: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const hint = d.hint ? `\n    hint: ${d.hint}` : '';
  return `${d.file}:${d.line}:${d.column}: ${d.severity} [${d.code}] ${d.message}${hint}`;
}

/**
 * The error `loadBundle` throws: the diagnostics travel with it so the CLI can print them all, with
 * the repo folder their paths are relative to (the CLI shows them relative to where it runs, as lint does).
 */
export function invalidPolicy(diagnostics: Diagnostic[], root?: string): PortcullisError {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const first = errors[0];
  const summary = `${errors.length} error${errors.length === 1 ? '' : 's'} in the policy repo`;
  return new PortcullisError('invalid_policy', first ? `${summary}; first: ${formatDiagnostic(first)}` : summary, {
    details: { diagnostics, ...(root !== undefined ? { root } : {}) },
  });
}

export function diagnosticsOf(err: unknown): Diagnostic[] | undefined {
  if (PortcullisError.is(err, 'invalid_policy')) return err.details.diagnostics as Diagnostic[] | undefined;
  return undefined;
}

/** Damerau-free Levenshtein distance, bounded: enough to suggest a misspelled name. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function didYouMean(value: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const candidatesSeen: string[] = [];
  for (const c of candidates) {
    candidatesSeen.push(c);
    const d = editDistance(value.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  if (bestScore <= Math.max(2, Math.floor(value.length / 3))) return best;
  // A shortened name (`wildcard-allow` for `wildcard-allow-for-agents`, `yaml` for `yaml-syntax`)
  // is far in edit distance but means one candidate when only one contains it.
  if (value.length < 3) return undefined;
  const v = value.toLowerCase();
  const containing = [...new Set(candidatesSeen)].filter((c) => c.toLowerCase().includes(v));
  return containing.length === 1 ? containing[0] : undefined;
}
