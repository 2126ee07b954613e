/**
 * The one place that says what a policy pattern means, for every tool that reads policy: the
 * engine, the PostgreSQL masking plan, lint (with its live-catalog checks), invariants, policy tests
 * and simulate. What the gateway enforces is what the others must report, so none of them compiles
 * a glob or name pattern of its own (docs/policy-ci.md#names-and-globs states the same rules).
 *
 * Regular expressions (statementPattern, pathPattern, query and argument patterns) and the globs of
 * HTTP, Kubernetes and MCP resources run on RE2 (the re2js port): matching takes time linear in the
 * input whatever the pattern, so no pattern an author writes and no text an agent sends can stall
 * the gateway (ReDoS is impossible by construction, not by lint). The price is RE2's syntax: no
 * backreferences, no lookaround; `patternProblem` explains those. PostgreSQL names are matched part
 * by part with string operations (linear too): `*` never leaves its dot-separated part.
 */
import { RE2JS } from 're2js';
import { PortcullisError } from '../errors.ts';
import type { TargetType } from '../bundle/model.ts';

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

function escapeRegex(s: string): string {
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
  const any = options.separator === undefined ? '(?s:.*)' : `[^${escapeRegex(options.separator)}]*`;
  const re = re2(`^${glob.split('*').map(escapeRegex).join(any)}$`, options.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  return { source: glob, test: (text) => re.test(text) };
}

/** For matchers that build their own RE2 source from escaped parts (the engine's resource globs). */
export function compileRegexSource(source: string): Pattern {
  const re = re2(source);
  return { source, test: (text) => re.test(text) };
}

// ---------------------------------------------------------------------------------------------
// Names and globs, per kind of thing matched. One meaning each; the doc section is
// docs/policy-ci.md#names-and-globs.
//
// - PostgreSQL relations `[schema.]table` and columns `[[schema.]table.]column`: `*` is any run of
//   characters inside one dot-separated part. A rule's relations compare exactly, as PostgreSQL
//   compares identifiers once parsed (unquoted ones arrive folded to lower case; `"Orders"` is another
//   table than `orders`). A mask's columns compare ignoring case: masking a column too many is safe,
//   missing one is not (the reason `table.column` masks every schema).
// - HTTP paths: `*` inside one `/` segment, `**` across segments, `/a/**` also matches `/a`.
// - Kubernetes resources `resource[/subresource]`, namespaces, and MCP tool names or resource URIs:
//   `*` is any run of characters (but a line break).
// - JSON field paths (`$.a.b`, `$..email`) keep their JSONPath grammar (runtime/masking).
// - Repository file paths in CODEOWNERS follow GitHub's gitignore-style rules (not policy globs).
// ---------------------------------------------------------------------------------------------

/** A set of name patterns compiled together; `any` when it accepts everything (lets an index skip work). */
export interface NameMatcher {
  test(name: string): boolean;
  readonly any: boolean;
}

const anyName: NameMatcher = { test: () => true, any: true };

/** A relation pattern `[schema.]table` with `*` globs; a bare table means schema `public`; `*` (or `**`, as for every target type) is every relation. */
export function normaliseRelationPattern(p: string): string {
  if (p === '*' || p === '**') return '*.*';
  return p.includes('.') ? p : `public.${p}`;
}

/** The name a relation is matched by: `schema.table`, `public` when the statement named none. */
export function relationName(schema: string | undefined, name: string): string {
  return `${schema ?? 'public'}.${name}`;
}

/** `table.column` masks every schema (masking too much is safe); `schema.table.column` is exact. */
export function normaliseColumnPattern(p: string): string {
  return p.split('.').length === 2 ? `*.${p}` : p;
}

/**
 * One dot-separated part of a PostgreSQL name pattern, tested on `text[from, to)`: `*` is any run of
 * characters. Star-only globs match greedily left to right (the leftmost place of each middle
 * literal is never worse), so this is a few indexOf calls, no backtracking and no allocation.
 */
type PartTest = (text: string, from: number, to: number) => boolean;

function partTest(part: string): PartTest {
  if (!part.includes('*')) return (text, from, to) => to - from === part.length && text.startsWith(part, from);
  const pieces = part.split('*');
  const head = pieces[0]!;
  const tail = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const least = head.length + tail.length;
  return (text, from, to) => {
    if (to - from < least || !text.startsWith(head, from) || !text.startsWith(tail, to - tail.length)) return false;
    let at = from + head.length;
    const end = to - tail.length;
    for (const m of middle) {
      const i = text.indexOf(m, at);
      if (i === -1 || i + m.length > end) return false;
      at = i + m.length;
    }
    return true;
  };
}

// A caller tests one name against every mask in turn: fold its case once, not once per mask.
let lastRaw = '';
let lastFolded = '';

function folded(name: string): string {
  if (name !== lastRaw) {
    lastRaw = name;
    lastFolded = name.toLowerCase();
  }
  return lastFolded;
}

/** A PostgreSQL name pattern as a whole-name test: as many parts as the name, each part matching. */
function pgNameTest(pattern: string, ignoreCase: boolean): (name: string) => boolean {
  const parts = (ignoreCase ? pattern.toLowerCase() : pattern).split('.').map(partTest);
  const last = parts.length - 1;
  return (raw) => {
    const name = ignoreCase ? folded(raw) : raw;
    let from = 0;
    for (let i = 0; i < last; i++) {
      const dot = name.indexOf('.', from);
      if (dot === -1 || !parts[i]!(name, from, dot)) return false;
      from = dot + 1;
    }
    return name.indexOf('.', from) === -1 && parts[last]!(name, from, name.length);
  };
}

/** RE2 source for one HTTP, Kubernetes or MCP glob (the engine joins them into one alternation). */
function globSource(pattern: string, type: Exclude<TargetType, 'postgres'>): string {
  if (type === 'http') {
    // `**` spans segments, `*` stays inside one; `/a/**` also matches `/a` itself.
    let out = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]!;
      if (c === '*' && pattern[i + 1] === '*') {
        if (out.endsWith('/') && i + 2 === pattern.length) out = `${out.slice(0, -1)}(?:/.*)?`;
        else out += '.*';
        i++;
      } else if (c === '*') out += '[^/]*';
      else out += escapeRegex(c);
    }
    return out;
  }
  return pattern.split('*').map(escapeRegex).join('.*');
}

/**
 * The common glob `literal*` (and `/a/**` for HTTP) as a string test, with exactly the meaning of
 * its regular expression: `*` is `[^/]*` for HTTP, `.*` (no line break) for Kubernetes and MCP.
 */
function prefixTest(pattern: string, type: Exclude<TargetType, 'postgres'>): ((v: string) => boolean) | undefined {
  const star = pattern.indexOf('*');
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star);
  if (type === 'http') {
    if (tail === '**' && head.endsWith('/')) {
      const bare = head.slice(0, -1);
      return (v) => v === bare || (v.startsWith(head) && !v.includes('\n', head.length));
    }
    if (tail === '*') return (v) => v.startsWith(head) && !v.includes('/', head.length);
    return undefined;
  }
  if (tail !== '*') return undefined;
  return (v) => v.startsWith(head) && !v.includes('\n', head.length);
}

/** Whether one resource pattern matches every name of its target type: `*` and `**` always, `*.*` a relation, `/**` a path. */
export function matchesEverything(pattern: string, type: TargetType): boolean {
  return pattern === '*' || pattern === '**' || (type === 'postgres' && pattern === '*.*') || (type === 'http' && pattern === '/**');
}

/**
 * A rule's resources (or namespaces, as type `kubernetes`) as one matcher, by the target type's
 * meaning of a glob. Omitted, empty, `*` or `**` accept everything. Relation patterns are normalised
 * (`orders` → `public.orders`); names are expected normalised (`relationName`).
 * `caseInsensitive`: an HTTP target whose upstream routes paths regardless of case (Target spec.paths).
 */
export function compileNamePatterns(patterns: readonly string[] | undefined, type: TargetType, opts: { caseInsensitive?: boolean } = {}): NameMatcher {
  if (!patterns || patterns.length === 0 || patterns.includes('*') || patterns.includes('**')) return anyName;
  const fold = opts.caseInsensitive === true;
  const exact = new Set<string>();
  const tests: ((v: string) => boolean)[] = [];
  const globs: string[] = [];
  for (const raw of fold ? patterns.map((x) => x.toLowerCase()) : patterns) {
    const p = type === 'postgres' ? normaliseRelationPattern(raw) : raw;
    if (!p.includes('*')) exact.add(p);
    else if (type === 'postgres') tests.push(pgNameTest(p, false));
    else {
      const fast = prefixTest(p, type);
      if (fast) tests.push(fast);
      else globs.push(globSource(p, type));
    }
  }
  // RE2 (linear time): a glob's `.*` runs can nest into polynomial backtracking on a long path.
  const re = globs.length > 0 ? re2(`^(?:${globs.join('|')})$`) : undefined;
  const test = (v: string) => exact.has(v) || tests.some((t) => t(v)) || (re?.test(v) ?? false);
  // Folding both sides keeps one glob meaning for case-insensitive upstreams.
  return { test: fold ? (v) => test(v.toLowerCase()) : test, any: false };
}

/** A mask's column pattern, compiled once: the full name, or the column or relation part alone. */
export interface ColumnPattern {
  readonly source: string;
  /** `schema.table.column` */
  test(name: string): boolean;
  /** the pattern's last part against a bare column name (a result column whose table is unknown) */
  testColumn(column: string): boolean;
  /** the pattern's relation part against `schema.table` or a bare `table` as a statement named it */
  testRelation(relation: string): boolean;
}

/** A mask's column pattern (`table.column` is normalised to every schema), compared ignoring case. */
export function compileColumnPattern(pattern: string): ColumnPattern {
  const source = normaliseColumnPattern(pattern);
  const parts = source.split('.');
  return {
    source,
    test: pgNameTest(source, true),
    testColumn: pgNameTest(parts[parts.length - 1]!, true),
    testRelation: pgNameTest(parts.slice(0, -1).join('.'), true),
  };
}

/** The column a policy test or invariant names (`customers.email`) as the full name the gateway matches: schema `public` when none is given. */
export function columnName(column: string): string {
  const parts = column.split('.');
  return parts.length === 2 ? `public.${column}` : parts.length === 3 && parts[0] === '*' ? `public.${parts.slice(1).join('.')}` : column;
}

/**
 * Whether mask pattern `have` masks every column that pattern `want` names, both compared as masks
 * are (by part, ignoring case). `want`'s stars are read as text that `have`'s stars must absorb: a
 * star of `have` that takes a `*` of `want` takes any run in its place, so "covers" is never claimed
 * for a column `have` would leave in clear.
 */
export function columnPatternCovers(have: string, want: string): boolean {
  const h = normaliseColumnPattern(have);
  const w = normaliseColumnPattern(want);
  return h.toLowerCase() === w.toLowerCase() || pgNameTest(h, true)(w);
}

/**
 * A CODEOWNERS pattern, by GitHub's rules (gitignore-style): `*` and `?` stay inside one path
 * segment, `**` spans them, a pattern with an inner or leading `/` is anchored at the root, one
 * without matches at any depth, and a directory owns everything under it. Run on RE2 like the rest.
 */
export function compileRepositoryPathPattern(pattern: string): Pattern {
  let p = pattern;
  const anchored = p.startsWith('/') || p.replace(/\/$/, '').includes('/');
  p = p.replace(/^\//, '');
  const dir = p.endsWith('/');
  if (dir) p = p.slice(0, -1);
  let body = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      if (p[i + 2] === '/') {
        body += '(?:.*/)?';
        i += 2;
      } else {
        body += '.*';
        i++;
      }
    } else if (c === '*') body += '[^/]*';
    else if (c === '?') body += '[^/]';
    else body += escapeRegex(c);
  }
  return compileRegexSource(`^${anchored ? '' : '(?:.*/)?'}${body}${dir ? '/.*' : '(?:/.*)?'}$`);
}

/**
 * Names a glob matches, for the invariant search and the permission diff to try:
 * `public.orders_*` -> public.orders_, public.orders_x; `/a/**` -> /a, /a/x, /a/x/y.
 */
export function globInstances(pattern: string, type: TargetType): string[] {
  if (pattern === '*' || pattern === '**') return type === 'http' ? ['/', '/x'] : ['x'];
  if (!pattern.includes('*')) return [pattern];
  if (type === 'http') {
    const a = pattern
      .replace(/\/\*\*$/, '')
      .replace(/\*\*/g, 'x/y')
      .replace(/\*/g, 'x');
    const b = pattern.replace(/\*\*/g, 'x/y').replace(/\*/g, 'x');
    return [...new Set([a || '/', b])];
  }
  return [...new Set([pattern.replace(/\*/g, 'x'), pattern.replace(/\*/g, '')].filter((s) => s !== '' && !s.endsWith('.')))];
}
