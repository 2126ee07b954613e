/**
 * YAML parsing that remembers where every value came from, so a schema error found by ajv at an
 * instance path (`/spec/rules/0/effect`) is reported at the line and column of that value.
 */
import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, isPair, type Node, type Document } from 'yaml';

export interface SourceDocument {
  file: string;
  /** index of the document within the file (several `---` documents a file) */
  index: number;
  value: unknown;
  /** line/column (1-based) of the value at an ajv-style JSON pointer */
  locate(pointer: string, options?: { key?: boolean }): { line: number; column: number };
}

export interface ParseProblem {
  file: string;
  line: number;
  column: number;
  message: string;
  /** what most likely caused it, when the parser's code says */
  hint?: string;
}

/** A hint for the parser errors whose usual cause is clear. */
const HINTS: Partial<Record<string, string>> = {
  DUPLICATE_KEY: 'a key appears twice in one mapping; merge the two into one (YAML would otherwise keep only the last)',
  MULTILINE_IMPLICIT_KEY: 'a key is probably missing its colon (`key: value`) on this line or the one above',
  IMPLICIT_KEY_NEEDS_VALUE: 'a key is probably missing its colon (`key: value`)',
  TAB_AS_INDENT: 'indent with spaces; YAML does not allow tabs there',
  BAD_INDENT: 'check the indentation: items of one mapping or list start at the same column',
  MISSING_CHAR: 'a quote, bracket or brace is not closed',
  BAD_DQ_ESCAPE: 'inside double quotes a backslash starts an escape; use single quotes for regular expressions',
};

type ParsedFile = { documents: SourceDocument[]; problems: ParseProblem[] };

// The loader and lint both parse every file of a load (the gateway lints each bundle it loads), and a
// reload re-reads files that did not change: parse a (file, text) once. Each caller gets its own copy
// of the values (the loader freezes its copy into the bundle; a copy costs far less than a parse).
// Bounded, for a long-lived gateway.
const parsed = new Map<string, ParsedFile>();

export function parseYamlFile(file: string, text: string): ParsedFile {
  const key = `${file}\0${text}`;
  let hit = parsed.get(key);
  if (!hit) {
    hit = parseYamlText(file, text);
    if (parsed.size >= 5000) parsed.clear();
    parsed.set(key, hit);
  }
  return { documents: hit.documents.map((d) => ({ ...d, value: structuredClone(d.value) })), problems: hit.problems };
}

function parseYamlText(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ParseProblem[] = [];
  const documents: SourceDocument[] = [];
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    problems.push({ file, line: 1, column: 1, message: 'not a YAML stream' });
  }
  list.forEach((doc, index) => {
    // After the first structural error the parser's view of the rest is guesswork: one missing colon
    // would otherwise read as ten problems. Duplicated keys are independent of each other: all stay.
    let structural = false;
    for (const e of doc.errors) {
      if (e.code !== 'DUPLICATE_KEY') {
        if (structural) continue;
        structural = true;
      }
      const pos = lineCounter.linePos(e.pos[0]);
      const hint = HINTS[e.code];
      problems.push({ file, line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message, ...(hint ? { hint } : {}) });
    }
    if (doc.errors.length > 0 || doc.contents === null) return;
    const locate = (pointer: string, options?: { key?: boolean }) => {
      const node = nodeAt(doc.contents as Node, pointer, options?.key ?? false);
      const offset = node?.range?.[0] ?? doc.contents?.range?.[0] ?? 0;
      const pos = lineCounter.linePos(offset);
      return { line: pos.line, column: pos.col };
    };
    documents.push({ file, index, value: doc.toJS({ maxAliasCount: 100 }), locate });
  });
  return { documents, problems };
}

/** Walk a YAML node tree by JSON pointer; stops at the deepest node that exists. */
function nodeAt(root: Node, pointer: string, key: boolean): Node | undefined {
  let node: Node | undefined = root;
  const segments = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const [i, seg] of segments.entries()) {
    if (isMap(node)) {
      const pair: unknown = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!isPair(pair)) return node;
      node = key && i === segments.length - 1 ? (pair.key as Node) : ((pair.value as Node | null) ?? (pair.key as Node));
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

/** Position of a map key (for "unknown field" errors the key, not the value, is the culprit). */
export function keyPointer(pointer: string, key: string): string {
  return `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}
