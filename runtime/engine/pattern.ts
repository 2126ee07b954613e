/**
 * The one way a policy pattern becomes a matcher. Patterns (statementPattern, pathPattern, query and
 * argument patterns, and the globs of resources and classifications) run on RE2 (the re2js port):
 * matching takes time linear in the input whatever the pattern, so no pattern an author writes and no
 * text an agent sends can stall the gateway (ReDoS is impossible by construction, not by lint).
 * The price is RE2's syntax: no backreferences, no lookaround; `patternProblem` explains those.
 */
import { RE2JS } from 're2js';
import { PortcullisError } from '../errors.ts';

export interface Pattern {
  readonly source: string;
  /** true when the pattern matches somewhere in `text` (like RegExp#test; anchor with ^ and $) */
  test(text: string): boolean;
}

/** RE2 constructs a JavaScript author reaches for, with what to write instead. */
const unsupported: [RegExp, string][] = [
  [/\\[1-9]|\\k</, 'uses a backreference (\\1, \\k<name>), which RE2 does not support: a linear-time engine cannot refer back to what a group matched; spell the alternatives out'],
  [/\(\?<?[=!]/, 'uses lookaround ((?=, (?!, (?<=, (?<!), which RE2 does not support; match the text itself, or split the check into two rules'],
  [/\(\?>/, 'uses an atomic group (?>...), which RE2 does not need or support: RE2 never backtracks; write the group without ?>'],
  [/[*+?}]\+/, 'uses a possessive quantifier (*+, ++, ?+), which RE2 does not need or support: RE2 never backtracks; drop the extra +'],
  [/\\u[0-9A-Fa-f{]/, 'uses a JavaScript \\u escape; RE2 writes a code point as \\x{41}'],
  [/\\c[A-Za-z]/, 'uses a \\c control escape; RE2 writes it as \\x{01}'],
];

// Compiling RE2 costs more than matching with it, and a repo repeats patterns (across rules, and
// across reloads of the same repo): compiled programs are shared by source. Bounded, in case a
// long-lived gateway sees many distinct patterns over time.
const compiled = new Map<string, RE2JS>();

function re2(source: string, flags = 0): RE2JS {
  const key = `${flags}:${source}`;
  let re = compiled.get(key);
  if (!re) {
    re = RE2JS.compile(source, flags);
    // Build the matcher's automaton when the bundle compiles, not on the first request that uses it.
    re.test('');
    if (compiled.size >= 10_000) compiled.clear();
    compiled.set(key, re);
  }
  return re;
}

/** undefined when `source` is a valid RE2 pattern; else a sentence saying what is wrong and what to write. */
export function patternProblem(source: string): string | undefined {
  try {
    re2(source);
    return undefined;
  } catch (err) {
    for (const [shape, why] of unsupported) if (shape.test(source)) return why;
    return `is not a valid RE2 pattern: ${(err as Error).message.replace(/^error parsing regexp: /, '')}`;
  }
}

export function compilePattern(source: string, options: { ignoreCase?: boolean } = {}): Pattern {
  let re: RE2JS;
  try {
    re = re2(source, options.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch {
    throw new PortcullisError('invalid_argument', `pattern /${source}/ ${patternProblem(source) ?? 'does not compile'}`);
  }
  return { source, test: (text) => re.test(text) };
}

function escape(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A glob (`*` = any run of characters outside `separator`, or any run at all without one) as a
 * whole-string matcher. A glob without `*` is a string comparison and `prefix*` a prefix test, the
 * common cases on a request's path; anything else compiles to RE2.
 */
export function compileGlob(glob: string, options: { separator?: string; ignoreCase?: boolean } = {}): Pattern {
  const fold = options.ignoreCase ? (s: string) => s.toLowerCase() : (s: string) => s;
  const star = glob.indexOf('*');
  if (star === -1) {
    const want = fold(glob);
    return { source: glob, test: (text) => fold(text) === want };
  }
  if (star === glob.length - 1 && options.separator === undefined) {
    const prefix = fold(glob.slice(0, -1));
    return { source: glob, test: (text) => fold(text).startsWith(prefix) };
  }
  const any = options.separator === undefined ? '(?s:.*)' : `[^${escape(options.separator)}]*`;
  const re = re2(`^${glob.split('*').map(escape).join(any)}$`, options.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  return { source: glob, test: (text) => re.test(text) };
}

/** For matchers that build their own RE2 source from escaped parts (the engine's resource globs). */
export function compileRegexSource(source: string): Pattern {
  const re = re2(source);
  return { source, test: (text) => re.test(text) };
}

export { escape as escapePattern };
