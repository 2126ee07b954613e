/**
 * Helpers over the JSON parse tree libpg-query returns: every node is `{ TypeName: { ...fields } }`.
 * The tree is walked generically rather than through @pgsql/types so that a node kind this code does
 * not know is still visited (an unknown node hiding a relation or a column must not be skipped).
 */

export type Fields = Record<string, unknown>;

/** A wrapped node: exactly one key, the node type. */
export interface Wrapped {
  type: string;
  fields: Fields;
}

export function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ SelectStmt: {...} }` → `{ type: 'SelectStmt', fields }`; anything else → undefined. */
export function unwrap(node: unknown): Wrapped | undefined {
  if (!isObject(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const type = keys[0]!;
  if (!/^[A-Z]/.test(type)) return undefined;
  const fields = node[type];
  if (!isObject(fields)) return { type, fields: {} };
  return { type, fields };
}

export function nodeOf(node: unknown, type: string): Fields | undefined {
  const w = unwrap(node);
  return w && w.type === type ? w.fields : undefined;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The `sval` of a String node (names in the tree are lists of String nodes). */
export function stringValue(node: unknown): string | undefined {
  const s = nodeOf(node, 'String');
  return s ? str(s['sval']) : undefined;
}

/** A qualified name list (`[String, String]`) joined with dots, e.g. funcname → `pg_catalog.lower`. */
export function dottedName(names: unknown): string {
  return list(names)
    .map((n) => stringValue(n) ?? '?')
    .join('.');
}

/**
 * Fields typed as one specific node kind come out of libpg-query unwrapped (`relation: {relname}`
 * rather than `relation: {RangeVar: {relname}}`). Wrapping them makes every node look alike, so one
 * walker finds the RangeVar of `UPDATE t` as surely as the one of `FROM t`.
 */
const TYPED_FIELDS: Record<string, string> = {
  relation: 'RangeVar',
  rel: 'RangeVar',
  withClause: 'WithClause',
  intoClause: 'IntoClause',
  into: 'IntoClause',
  onConflictClause: 'OnConflictClause',
  infer: 'InferClause',
  returningClause: 'ReturningClause',
  partspec: 'PartitionSpec',
  larg: 'SelectStmt',
  rarg: 'SelectStmt',
  view: 'RangeVar',
  sequence: 'RangeVar',
  table: 'RangeVar',
};

export function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (!isObject(value)) return value;
  const out: Fields = {};
  for (const [key, child] of Object.entries(value)) {
    const type = TYPED_FIELDS[key];
    if (type && isObject(child) && !unwrap(child)) out[key] = { [type]: normalize(child) };
    else out[key] = normalize(child);
  }
  return out;
}

/**
 * Visit every wrapped node below `root` (root included). `visit` returns false to skip a subtree;
 * the caller then handles that subtree itself.
 */
export function walk(root: unknown, visit: (node: Wrapped) => boolean | void): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
      continue;
    }
    if (!isObject(value)) continue;
    const w = unwrap(value);
    if (w) {
      if (visit(w) === false) continue;
      for (const child of Object.values(w.fields)) stack.push(child);
    } else {
      for (const child of Object.values(value)) stack.push(child);
    }
  }
}

/** The value of a boolean-ish DefElem option (EXPLAIN (ANALYZE), COPY options): absent arg means true. */
export function defElemTrue(option: unknown, name: string): boolean {
  const d = nodeOf(option, 'DefElem');
  if (!d || str(d['defname']) !== name) return false;
  const arg = d['arg'];
  if (arg === undefined) return true;
  const b = nodeOf(arg, 'Boolean');
  if (b) return b['boolval'] === true;
  const s = stringValue(arg) ?? str(nodeOf(arg, 'A_Const')?.['sval']);
  if (s !== undefined) return !['false', 'off', '0', 'no'].includes(s.toLowerCase());
  const c = nodeOf(arg, 'A_Const');
  if (c) {
    const bv = nodeOf(c['boolval'], 'Boolean') ?? (isObject(c['boolval']) ? c['boolval'] : undefined);
    if (bv) return bv['boolval'] === true;
    const iv = isObject(c['ival']) ? c['ival'] : undefined;
    if (iv) return iv['ival'] !== undefined && iv['ival'] !== 0;
  }
  return true;
}
