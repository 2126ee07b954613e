/**
 * Reusing one statement's analysis for another string of the same literal shape (literal-shape.ts).
 *
 * The scanner alone is not trusted: a template is made only from a string the real parser has just
 * analysed, and a literal becomes a wildcard only where that parse tree shows a constant (a number
 * or a string) starting exactly there, compared with a plain column (`col = 5`, `5 < col`,
 * `name = 'x'`, `col IN (1, 2)`, `col BETWEEN 1 AND 9`). Nothing in the analysis, the decision or
 * the mask-safety check reads the value of such a constant; a literal anywhere else (ORDER BY 2 names
 * an output column, LIMIT, a function argument such as set_config's, a cast, a typed literal like
 * date '...', a type modifier, a negative number, LIKE) must match the template character for
 * character. Changing only a literal token between the same surrounding characters, for another token
 * of the same kind as the scanner lexes it exactly as PostgreSQL does, cannot move any other token
 * boundary, so the other string parses into the same tree but for those constants' values (a number
 * too large for int4 becomes a numeric constant: the same place in the same tree).
 */
import type { AnalyzedStatement } from './analyze.ts';
import { isObject, list, nodeOf, stringValue, walk } from './ast.ts';
import type { LiteralShape } from './literal-shape.ts';

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

export interface ShapeTemplate {
  readonly key: string;
  /** per literal: undefined where any literal of its kind may stand, else the text that must */
  readonly fixed: readonly (string | undefined)[];
  readonly analysis: AnalyzedStatement;
  /** characters after the statement's text (the trailing `;` and spaces), none of them a literal */
  readonly tail: number;
}

function constantAt(node: unknown): number | undefined {
  const c = nodeOf(node, 'A_Const');
  if (!c || c['isnull'] === true) return undefined;
  // ival {} is 0; fval is an integer too large for int4 (the scanner only cuts plain digit runs);
  // sval a string (the scanner only cuts '...' strings without a prefix or a backslash)
  if (!isObject(c['ival']) && !isObject(c['fval']) && !isObject(c['sval'])) return undefined;
  return typeof c['location'] === 'number' ? c['location'] : undefined;
}

function plainColumn(node: unknown): boolean {
  const ref = nodeOf(node, 'ColumnRef');
  return ref !== undefined && list(ref['fields']).every((f) => nodeOf(f, 'String') !== undefined);
}

function items(node: unknown): unknown[] {
  const l = nodeOf(node, 'List');
  return l ? list(l['items']) : list(node);
}

/** Offsets of constants (numbers, strings) whose value no analysis reads. */
export function valueFreeConstants(ast: unknown): Set<number> {
  const out = new Set<number>();
  const add = (node: unknown) => {
    const at = constantAt(node);
    if (at !== undefined) out.add(at);
  };
  walk(ast, (node) => {
    if (node.type !== 'A_Expr') return;
    const f = node.fields;
    const name = list(f['name']);
    const op = name.length === 1 ? stringValue(name[0]) : undefined;
    if (f['kind'] === 'AEXPR_OP' && op !== undefined && COMPARISONS.has(op)) {
      if (plainColumn(f['lexpr'])) add(f['rexpr']);
      if (plainColumn(f['rexpr'])) add(f['lexpr']);
    } else if ((f['kind'] === 'AEXPR_IN' || f['kind'] === 'AEXPR_BETWEEN' || f['kind'] === 'AEXPR_NOT_BETWEEN') && plainColumn(f['lexpr'])) {
      for (const item of items(f['rexpr'])) add(item);
    }
  });
  return out;
}

/** A statement kind whose analysis is all in its own tree (no session state, no inner statement). */
function eligible(s: AnalyzedStatement): boolean {
  return !s.refersTo && !s.defines && !s.inner && !s.executes && !s.copy && !s.adminFunctions;
}

/** A template from a freshly parsed string, or undefined when no literal in it may vary. */
export function makeTemplate(sql: string, shape: LiteralShape, analysed: readonly AnalyzedStatement[]): ShapeTemplate | undefined {
  if (analysed.length !== 1) return undefined;
  const s = analysed[0]!;
  if (!eligible(s)) return undefined;
  const end = s.offset + s.text.length;
  if (sql.slice(s.offset, end) !== s.text) return undefined;
  // every literal inside the statement's own text, so the text of another string is found by position
  if (shape.starts.some((at, i) => at < s.offset || at + shape.values[i]!.length > end)) return undefined;
  const free = valueFreeConstants(s.ast);
  // the parse tree's locations count UTF-8 bytes, the shape's characters
  const ascii = !/[^\x00-\x7f]/.test(sql);
  const byteAt = (at: number) => (ascii ? at : Buffer.byteLength(sql.slice(0, at), 'utf8'));
  const fixed = shape.starts.map((at, i) => (free.has(byteAt(at)) ? undefined : shape.values[i]));
  if (fixed.every((v) => v !== undefined)) return undefined;
  return { key: shape.key, fixed, analysis: s, tail: sql.length - end };
}

/** The template's analysis for another string of its shape, or undefined when a fixed literal differs. */
export function instantiate(t: ShapeTemplate, sql: string, shape: LiteralShape): AnalyzedStatement | undefined {
  if (shape.key !== t.key || shape.values.length !== t.fixed.length) return undefined;
  for (let i = 0; i < t.fixed.length; i++) {
    const f = t.fixed[i];
    if (f !== undefined && f !== shape.values[i]) return undefined;
  }
  const a = t.analysis;
  const text = sql.slice(a.offset, sql.length - t.tail);
  const s: AnalyzedStatement = Object.assign({}, a);
  s.text = text;
  s.statement = Object.assign({}, a.statement);
  s.statement.text = text;
  s.template = a;
  return s;
}
