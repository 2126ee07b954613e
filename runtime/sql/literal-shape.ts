/**
 * The literal shape of a query string: the text with every unsigned integer literal and every plain
 * '...' string literal cut out, and the cut-out literals. Agents (and drivers that interpolate, and pgbench in simple mode) send the
 * same statement again and again with other numbers in it; two strings of one shape lex into the
 * same tokens but for the values of those literals, so the analysis of one holds for the other
 * wherever the literals sit in positions the analysis never looks into (see shape-template.ts).
 *
 * This scanner must never see a digit run as a literal where PostgreSQL's lexer sees something else
 * (part of an identifier, a string, a comment, a parameter, a float). Where it is not sure it gives
 * up (undefined), and the string is parsed in full like any other. It is deliberately narrower than
 * PostgreSQL: non-ASCII text only inside quotes and comments (outside, PostgreSQL reads it as part of
 * an identifier; the gateway pins the session to UTF-8, so a multibyte character never hides a quote
 * byte), no backslash anywhere in a string (escape strings would end elsewhere), no Unicode-escape
 * strings.
 */

export interface LiteralShape {
  /** the text with each number replaced by U+0000 and each string by U+0001 (no query holds either) */
  key: string;
  /** each literal as written (digits, or a string with its quotes), in order */
  values: string[];
  /** each literal's character offset (the parser's locations count UTF-8 bytes) */
  starts: number[];
}

const NUMBER = '\u0000';
const STRING = '\u0001';

/** Control characters other than tab and line ends: never in SQL worth a template (and not in a key). */
function control(c: number): boolean {
  return c < 32 && c !== 9 && c !== 10 && c !== 13;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Characters that continue an identifier or a number: a digit next to one is not a literal of its own. */
function joins(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 /* _ */ || c === 36 /* $ */ || c === 46 /* . */;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isIdentCont(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === 36;
}

/** Undefined when the string holds no literal or anything this scanner does not handle. */
export function literalShape(sql: string): LiteralShape | undefined {
  const n = sql.length;
  const values: string[] = [];
  const starts: number[] = [];
  let key = '';
  let copied = 0;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c >= 128 || control(c) || c === 92 /* \ */) return undefined;
    if (c === 39 /* ' */) {
      // E'..', U&'..' and friends: the prefix letter is part of the token before the quote.
      const before = i > 0 ? sql.charCodeAt(i - 1) : 32;
      if (before === 38 /* & */ || before === 69 || before === 101 /* E e */) return undefined;
      const end = quoted(sql, i, 39);
      if (end < 0) return undefined;
      // B'..', X'..', N'..' (a letter before the quote) are other tokens: kept as written
      if (!isIdentCont(before)) {
        key += sql.slice(copied, i) + STRING;
        copied = end;
        values.push(sql.slice(i, end));
        starts.push(i);
      }
      i = end;
      continue;
    }
    if (c === 34 /* " */) {
      const end = quoted(sql, i, 34);
      if (end < 0) return undefined;
      i = end;
      continue;
    }
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      while (i < n && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) {
        if (control(sql.charCodeAt(i))) return undefined;
        i++;
      }
      continue;
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      const end = blockComment(sql, i);
      if (end < 0) return undefined;
      i = end;
      continue;
    }
    if (c === 36 /* $ */) {
      // $1 is a parameter; $tag$ or $$ opens a dollar-quoted string (an identifier's own $ is
      // consumed with the identifier below and never gets here).
      if (isDigit(sql.charCodeAt(i + 1))) {
        i++;
        while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
        continue;
      }
      const end = dollarQuoted(sql, i);
      if (end < 0) return undefined;
      i = end;
      continue;
    }
    if (isIdentStart(c)) {
      while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
      continue;
    }
    if (isDigit(c) || c === 46 /* . */) {
      const start = i;
      while (i < n && joins(sql.charCodeAt(i))) i++;
      // 1e+5: the sign and the exponent's digits belong to the number
      const last = sql.charCodeAt(i - 1);
      if ((last === 69 || last === 101) && (sql.charCodeAt(i) === 43 || sql.charCodeAt(i) === 45) && isDigit(sql.charCodeAt(i + 1))) {
        i++;
        while (i < n && joins(sql.charCodeAt(i))) i++;
      }
      let plain = true;
      for (let k = start; k < i; k++) if (!isDigit(sql.charCodeAt(k))) plain = false;
      // 12, not 1.5, 1e3, 0x1f, 1_000 or .5: those stay part of the shape, digits and all.
      if (plain) {
        key += sql.slice(copied, start) + NUMBER;
        copied = i;
        values.push(sql.slice(start, i));
        starts.push(start);
      }
      continue;
    }
    i++;
  }
  if (values.length === 0) return undefined;
  return { key: key + sql.slice(copied), values, starts };
}

/** Index after the closing quote ('' and "" are escaped quotes), or -1 when unterminated. */
function quoted(sql: string, open: number, quote: number): number {
  let i = open + 1;
  for (;;) {
    if (i >= sql.length) return -1;
    const c = sql.charCodeAt(i);
    if (control(c) || c === 92) return -1;
    if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
}

/** Comments nest in PostgreSQL: /* /* *\/ *\/ is one comment. */
function blockComment(sql: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (control(c)) return -1;
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      depth++;
      i += 2;
    } else if (c === 42 && sql.charCodeAt(i + 1) === 47) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return -1;
}

function dollarQuoted(sql: string, open: number): number {
  let i = open + 1;
  if (i < sql.length && isIdentStart(sql.charCodeAt(i))) {
    i++;
    while (i < sql.length && (isIdentStart(sql.charCodeAt(i)) || isDigit(sql.charCodeAt(i)))) i++;
  }
  if (sql.charCodeAt(i) !== 36) return -1; // a lone $ is an operator character: not handled
  const tag = sql.slice(open, i + 1);
  const close = sql.indexOf(tag, i + 1);
  if (close < 0) return -1;
  for (let k = i + 1; k < close; k++) if (control(sql.charCodeAt(k))) return -1;
  return close + tag.length;
}
