/**
 * SQL analysis with the real PostgreSQL parser (libpg-query): a query string becomes one
 * `AnalyzedStatement` per statement, each carrying the `PostgresStatement` the decision engine
 * matches rules against and the parse tree for later passes (mask safety).
 *
 * Classification fails towards the more privileged class: a statement kind this file does not know
 * is `admin`, never `select`.
 */
import { loadModule, parseSync } from 'libpg-query';
import { PortcullisError } from '../errors.ts';
import type { PostgresStatement, RelationAccess, StatementClass } from '../engine/request.ts';
import { defElemTrue, dottedName, list, nodeOf, normalize, str, stringValue, unwrap, walk, type Fields } from './ast.ts';
import { isAdminFunction } from './functions.ts';
import { literalShape } from './literal-shape.ts';
import { instantiate, makeTemplate, type ShapeTemplate } from './shape-template.ts';

// The WASM module must be loaded before parseSync works; loading once at import keeps analyzeSql
// synchronous for every caller.
await loadModule();

export interface CopyInfo {
  direction: 'to' | 'from';
  /** COPY table ... or COPY (query) TO ... */
  source: 'relation' | 'query';
  /** where the data goes or comes from; anything but stdio runs on the server and is admin */
  endpoint: 'stdio' | 'file' | 'program';
  /** the column list of COPY table(a, b); absent means every column */
  columns?: readonly string[];
}

export type SessionReference = { prepared: string } | { cursor: string };

export interface AnalyzedStatement {
  /** the statement's own text */
  text: string;
  /** character offset of the statement in the query string */
  offset: number;
  statement: PostgresStatement;
  /** the statement's parse tree node (`{ SelectStmt: {...} }`) */
  ast: unknown;
  /** EXECUTE/FETCH/MOVE/CLOSE name session state the gateway has to resolve */
  refersTo?: SessionReference;
  /** PREPARE name AS ... / DECLARE name CURSOR FOR ...: what this statement defines */
  defines?: SessionReference;
  /** PREPARE, EXPLAIN and DECLARE wrap a statement; it is analysed too */
  inner?: AnalyzedStatement;
  /** EXPLAIN ANALYZE runs its statement */
  executes?: boolean;
  copy?: CopyInfo;
  /** functions that made the statement admin */
  adminFunctions?: readonly string[];
  /**
   * Set when this analysis was not parsed but taken from an earlier string that differs only in
   * value-free literals (shape-template.ts): `ast` is that string's tree, `text` this one's.
   * What was decided for the template holds for this statement, unless a rule reads the text.
   */
  template?: AnalyzedStatement;
}

const WRITE_CLASSES: Record<string, StatementClass> = {
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
};

/** Parameters whose change alters what the gateway (or policy) relies on; setting them is admin. */
const GUARDED_PARAMETERS = new Set([
  'role',
  'session_authorization',
  'session_replication_role',
  'search_path',
  'transaction_read_only',
  'default_transaction_read_only',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'idle_session_timeout',
  'transaction_timeout',
  'row_security',
  'allow_system_table_mods',
  'local_preload_libraries',
  'session_preload_libraries',
  'ignore_system_indexes',
  'zero_damaged_pages',
  'temp_file_limit',
  'work_mem',
  'maintenance_work_mem',
  'default_tablespace',
  'temp_tablespaces',
  // How the backend reads the bytes of a query: changed, it would lex strings (and so everything
  // after them) differently from the gateway's parser, which reads UTF-8 with conforming strings.
  'standard_conforming_strings',
  'backslash_quote',
  'client_encoding',
]);
const GUARDED_PREFIXES = ['log_', 'debug_', 'track_', 'pg_stat_statements.', 'auto_explain.'];

const TRANSACTION_STMTS = new Set(['TransactionStmt', 'ConstraintsSetStmt']);
const SESSION_STMTS = new Set(['VariableShowStmt', 'DeallocateStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'ClosePortalStmt']);
const ADMIN_STMTS = new Set([
  'GrantStmt',
  'GrantRoleStmt',
  'VacuumStmt',
  'ReindexStmt',
  'ClusterStmt',
  'CheckPointStmt',
  'AlterSystemStmt',
  'LoadStmt',
  'DoStmt',
  'CallStmt',
  'CreateRoleStmt',
  'AlterRoleStmt',
  'AlterRoleSetStmt',
  'DropRoleStmt',
  'CreateExtensionStmt',
  'AlterExtensionStmt',
  'AlterExtensionContentsStmt',
  'CreateFdwStmt',
  'AlterFdwStmt',
  'CreateForeignServerStmt',
  'AlterForeignServerStmt',
  'CreateUserMappingStmt',
  'AlterUserMappingStmt',
  'DropUserMappingStmt',
  'ImportForeignSchemaStmt',
  'CreatedbStmt',
  'AlterDatabaseStmt',
  'AlterDatabaseSetStmt',
  'AlterDatabaseRefreshCollStmt',
  'DropdbStmt',
  'CreateTableSpaceStmt',
  'DropTableSpaceStmt',
  'AlterTableSpaceOptionsStmt',
  'AlterTableMoveAllStmt',
  'CreateSubscriptionStmt',
  'AlterSubscriptionStmt',
  'DropSubscriptionStmt',
  'CreatePublicationStmt',
  'AlterPublicationStmt',
  'CreateEventTrigStmt',
  'AlterEventTrigStmt',
  'ReassignOwnedStmt',
  'DropOwnedStmt',
  'SecLabelStmt',
  'LockStmt',
  'AlterDefaultPrivilegesStmt',
  'CreateConversionStmt',
  'AlterSystemStmt',
  'WaitStmt',
]);
/** Statement kinds that change schema objects; anything matching neither list nor these is admin. */
const DDL_PREFIXES = ['Create', 'Alter', 'Drop', 'Define', 'Comment', 'Rename', 'Truncate', 'Index', 'View', 'CompositeType', 'Rule', 'RefreshMatView'];

/** Object types of DROP whose names are relations. */
const DROP_RELATION_TYPES = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX']);

class Collector {
  readonly relations: RelationAccess[] = [];
  readonly columns: { relation?: string; column: string }[] = [];
  readonly functions = new Set<string>();
  readonly writeActions: StatementClass[] = [];
  /** an UPDATE or DELETE without WHERE nested in a CTE */
  unboundedWrite = false;
  /** alias or name → relation name, over the whole statement (good enough for policy column matching) */
  private readonly aliases = new Map<string, string>();
  private readonly columnRefs: string[][] = [];
  private readonly seen = new Set<string>();

  addRelation(rv: Fields, access: 'read' | 'write'): void {
    const name = str(rv['relname']);
    if (!name) return;
    const schema = str(rv['schemaname']);
    const alias = str(nodeOf(rv['alias'], 'Alias')?.['aliasname']) ?? str((rv['alias'] as Fields | undefined)?.['aliasname']);
    this.aliases.set(alias ?? name, name);
    const key = `${schema ?? ''}\u0000${name}\u0000${access}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.relations.push(schema ? { schema, name, access } : { name, access });
  }

  addNamedRelation(names: string[], access: 'read' | 'write'): void {
    const name = names[names.length - 1];
    if (!name) return;
    this.addRelation(names.length > 1 ? { relname: name, schemaname: names[names.length - 2] } : { relname: name }, access);
  }

  /**
   * Walk `root` collecting relations (CTE names excepted, with PostgreSQL's visibility: a
   * non-recursive CTE sees only the CTEs before it, so `WITH customers AS (SELECT * FROM customers)`
   * still reads the table), function calls, column references and data-modifying statements nested
   * in CTEs. `writeTargets` are RangeVar objects the enclosing statement writes.
   */
  collect(root: unknown, ctes: ReadonlySet<string>, writeTargets: ReadonlySet<unknown>, topDdl: boolean): void {
    walk(root, (node) => {
      const f = node.fields;
      if (node.type === 'RangeVar') {
        const name = str(f['relname']);
        if (!f['schemaname'] && name && ctes.has(name)) return false;
        const w = writeTargets.has(f) || (topDdl && !this.inQuery);
        this.addRelation(f, w ? 'write' : 'read');
        return false;
      }
      const withClause = nodeOf(f['withClause'], 'WithClause');
      if (withClause) {
        const names: string[] = [];
        const cteNodes = list(withClause['ctes'])
          .map((c) => nodeOf(c, 'CommonTableExpr'))
          .filter((c): c is Fields => !!c);
        for (const c of cteNodes) names.push(str(c['ctename']) ?? '');
        const recursive = withClause['recursive'] === true;
        cteNodes.forEach((c, i) => {
          const visible = new Set([...ctes, ...(recursive ? names : names.slice(0, i))]);
          const q = unwrap(c['ctequery']);
          if (q && (WRITE_CLASSES[q.type] || q.type === 'MergeStmt')) {
            if ((q.type === 'UpdateStmt' || q.type === 'DeleteStmt') && q.fields['whereClause'] === undefined) this.unboundedWrite = true;
            this.writeActions.push(...(WRITE_CLASSES[q.type] ? [WRITE_CLASSES[q.type]!] : (['insert', 'update', 'delete'] as const)));
            this.nested(c['ctequery'], visible, new Set([nodeOf(q.fields['relation'], 'RangeVar')]), false, true);
          } else {
            this.nested(c['ctequery'], visible, new Set(), false, true);
          }
        });
        const all = new Set([...ctes, ...names]);
        this.nested({ [node.type]: { ...f, withClause: undefined } }, all, writeTargets, topDdl);
        return false;
      }
      if (node.type !== 'SelectStmt' && WRITE_CLASSES[node.type] && root !== undefined && !this.isRoot(root, node)) {
        // a data-modifying statement nested in a CTE
        this.writeActions.push(WRITE_CLASSES[node.type]!);
        this.nested({ [node.type]: f }, ctes, new Set([nodeOf(f['relation'], 'RangeVar')]), false, true);
        return false;
      }
      if (node.type === 'MergeStmt' && !this.isRoot(root, node)) {
        this.writeActions.push('insert', 'update', 'delete');
        this.nested({ MergeStmt: f }, ctes, new Set([nodeOf(f['relation'], 'RangeVar')]), false, true);
        return false;
      }
      if (node.type === 'SelectStmt' && topDdl && !this.inQuery) {
        this.nested({ SelectStmt: f }, ctes, writeTargets, topDdl, true);
        return false;
      }
      if (node.type === 'FuncCall') this.functions.add(dottedName(f['funcname']).toLowerCase());
      if (node.type === 'ColumnRef') {
        const parts = list(f['fields']).map((p) => stringValue(p) ?? (unwrap(p)?.type === 'A_Star' ? '*' : '?'));
        this.columnRefs.push(parts);
      }
      if (node.type === 'IntoClause') {
        const rel = nodeOf(f['rel'], 'RangeVar');
        if (rel) this.addRelation(rel, 'write');
        return false;
      }
      return true;
    });
  }

  private inQuery = false;
  private rootNode: unknown;

  private isRoot(root: unknown, node: { fields: Fields }): boolean {
    return (unwrap(root)?.fields ?? null) === node.fields || this.rootNode === node.fields;
  }

  private nested(root: unknown, ctes: ReadonlySet<string>, writeTargets: ReadonlySet<unknown> = new Set(), topDdl = false, asQuery = false): void {
    const saved = this.inQuery;
    const savedRoot = this.rootNode;
    if (asQuery) this.inQuery = true;
    this.rootNode = unwrap(root)?.fields;
    this.collect(root, ctes, writeTargets, topDdl);
    this.inQuery = saved;
    this.rootNode = savedRoot;
  }

  start(root: unknown, writeTargets: ReadonlySet<unknown>, topDdl: boolean): void {
    this.rootNode = unwrap(root)?.fields;
    this.collect(root, new Set(), writeTargets, topDdl);
  }

  resolvedColumns(): { relation?: string; column: string }[] {
    const real = new Set(this.relations.map((r) => r.name));
    const only = real.size === 1 ? [...real][0] : undefined;
    const out = new Map<string, { relation?: string; column: string }>();
    for (const parts of this.columnRefs) {
      const column = parts[parts.length - 1]!;
      let relation: string | undefined;
      if (parts.length >= 2) relation = this.aliases.get(parts[parts.length - 2]!);
      else relation = only;
      const entry = relation ? { relation, column } : { column };
      out.set(`${relation ?? ''}.${column}`, entry);
    }
    return [...out.values()];
  }
}

function classOf(type: string, f: Fields): StatementClass {
  if (type === 'SelectStmt') return f['intoClause'] ? 'ddl' : 'select';
  if (WRITE_CLASSES[type]) return WRITE_CLASSES[type]!;
  if (type === 'MergeStmt') return 'insert';
  if (TRANSACTION_STMTS.has(type)) return 'transaction';
  if (SESSION_STMTS.has(type)) return 'session';
  if (ADMIN_STMTS.has(type)) return 'admin';
  if (type === 'VariableSetStmt') {
    const kind = str(f['kind']);
    if (kind === 'VAR_SET_MULTI') return 'transaction'; // SET TRANSACTION ..., SET SESSION CHARACTERISTICS
    if (kind === 'VAR_RESET_ALL') return 'admin'; // resets role and session authorization too
    const name = (str(f['name']) ?? '').toLowerCase();
    if (GUARDED_PARAMETERS.has(name) || GUARDED_PREFIXES.some((p) => name.startsWith(p))) return 'admin';
    return 'session';
  }
  if (type === 'DiscardStmt') return str(f['target']) === 'DISCARD_ALL' ? 'admin' : 'session';
  if (DDL_PREFIXES.some((p) => type.startsWith(p))) return 'ddl';
  return 'admin';
}

function copyInfo(f: Fields): CopyInfo {
  const info: CopyInfo = {
    direction: f['is_from'] === true ? 'from' : 'to',
    source: f['query'] ? 'query' : 'relation',
    endpoint: f['is_program'] === true ? 'program' : f['filename'] ? 'file' : 'stdio',
  };
  const cols = list(f['attlist'])
    .map(stringValue)
    .filter((c): c is string => !!c);
  return cols.length > 0 ? { ...info, columns: cols } : info;
}

/** Byte offsets (libpg-query reports UTF-8 byte positions) to string pieces. */
function sliceStatement(bytes: Buffer, location: number, length: number): { text: string; offset: number } {
  const end = length > 0 ? location + length : bytes.length;
  const raw = bytes.subarray(location, end).toString('utf8');
  const lead = raw.length - raw.trimStart().length;
  return {
    text: raw.trim(),
    offset: bytes.subarray(0, location).toString('utf8').length + lead,
  };
}

function analyzeNode(ast: unknown, text: string, offset: number): AnalyzedStatement {
  const w = unwrap(ast);
  if (!w) throw new PortcullisError('internal', 'parser returned an empty statement');
  const { type, fields: f } = w;
  const result: AnalyzedStatement = {
    text,
    offset,
    ast,
    statement: { text, class: 'admin', relations: [], hasWhere: true },
  };

  // Statements that wrap another: the inner statement decides the class.
  if (type === 'PrepareStmt' || type === 'ExplainStmt' || type === 'DeclareCursorStmt') {
    const inner = analyzeNode(f['query'], text, offset);
    result.inner = inner;
    result.statement = { ...inner.statement, text };
    if (inner.adminFunctions) result.adminFunctions = inner.adminFunctions;
    if (inner.copy) result.copy = inner.copy;
    if (type === 'PrepareStmt') result.defines = { prepared: str(f['name']) ?? '' };
    if (type === 'DeclareCursorStmt') result.defines = { cursor: str(f['portalname']) ?? '' };
    if (type === 'ExplainStmt') result.executes = list(f['options']).some((o) => defElemTrue(o, 'analyze'));
    return result;
  }
  if (type === 'ExecuteStmt' || type === 'FetchStmt' || type === 'ClosePortalStmt') {
    result.refersTo = type === 'ExecuteStmt' ? { prepared: str(f['name']) ?? '' } : { cursor: str(f['portalname']) ?? '' };
  }

  let cls = classOf(type, f);
  const writeTargets = new Set<unknown>();
  if (WRITE_CLASSES[type] || type === 'MergeStmt') writeTargets.add(nodeOf(f['relation'], 'RangeVar') ?? f['relation']);
  if (type === 'CopyStmt') {
    result.copy = copyInfo(f);
    if (result.copy.direction === 'from') writeTargets.add(nodeOf(f['relation'], 'RangeVar') ?? f['relation']);
    if (result.copy.endpoint !== 'stdio') cls = 'admin';
    else cls = 'copy';
  }
  // Wrapped RangeVars: the walker sees the inner fields object, so register that identity.
  const targets = new Set<unknown>([...writeTargets].map((t) => unwrap(t)?.fields ?? t));

  const c = new Collector();
  c.start(ast, targets, type !== 'CopyStmt' && (cls === 'ddl' || cls === 'admin'));
  if (type === 'DropStmt' && DROP_RELATION_TYPES.has(str(f['removeType']) ?? '')) {
    for (const obj of list(f['objects'])) {
      const names = list(nodeOf(obj, 'List')?.['items'])
        .map(stringValue)
        .filter((n): n is string => !!n);
      c.addNamedRelation(names, 'write');
    }
  }

  const functions = [...c.functions];
  const adminFunctions = functions.filter(isAdminFunction);
  let actions: StatementClass[] = type === 'MergeStmt' ? ['insert', 'update', 'delete'] : [cls];
  if (type === 'InsertStmt' && nodeOf(f['onConflictClause'], 'OnConflictClause')?.['action'] === 'ONCONFLICT_UPDATE') {
    actions.push('update');
  }
  if (c.writeActions.length > 0) {
    // WITH d AS (DELETE ... RETURNING *) SELECT ...: the statement is as much a delete as a select
    actions = [...new Set([...c.writeActions, ...actions])];
    if (cls === 'select') cls = actions[0]!;
  }
  if (adminFunctions.length > 0) {
    result.adminFunctions = adminFunctions;
    if (!actions.includes('admin')) actions = ['admin', ...actions];
    cls = 'admin';
  }
  if (type === 'MergeStmt' && cls !== 'admin') cls = 'insert';

  let hasWhere = true;
  if (type === 'UpdateStmt' || type === 'DeleteStmt') hasWhere = f['whereClause'] !== undefined;
  if (c.unboundedWrite) hasWhere = false;

  const statement: PostgresStatement = { text, class: cls, relations: c.relations, hasWhere };
  if (actions.length > 1 || actions[0] !== cls) statement.actions = actions;
  const columns = c.resolvedColumns();
  if (columns.length > 0) statement.columns = columns;
  if (functions.length > 0) statement.functions = functions;
  result.statement = statement;
  return result;
}

function parseError(error: unknown, sql: string): PortcullisError {
  const details = (error as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
  const message = details?.message ?? (error instanceof Error ? error.message : String(error));
  const at = details?.cursorPosition;
  // cursorPosition counts bytes from 0; report characters from 1, as PostgreSQL's own errors do.
  const pos = at === undefined ? undefined : Buffer.from(sql).subarray(0, at).toString('utf8').length + 1;
  return new PortcullisError('invalid_argument', `cannot parse SQL: ${message}${pos === undefined ? '' : ` at position ${pos}`}`, {
    cause: error,
  });
}

/** Parse a query string (possibly several statements) and analyse each statement. */
export function analyzeSql(sql: string): AnalyzedStatement[] {
  let parsed: { stmts?: Array<{ stmt?: unknown; stmt_location?: number; stmt_len?: number }> };
  try {
    parsed = parseSync(sql) as typeof parsed;
  } catch (error) {
    throw parseError(error, sql);
  }
  const bytes = Buffer.from(sql, 'utf8');
  const out: AnalyzedStatement[] = [];
  for (const raw of parsed.stmts ?? []) {
    if (!raw.stmt) continue;
    const { text, offset } = sliceStatement(bytes, raw.stmt_location ?? 0, raw.stmt_len ?? 0);
    out.push(analyzeNode(normalize(raw.stmt), text, offset));
  }
  return out;
}

/** Parse only; for view definitions and other SQL the gateway itself holds. */
export function parseStatements(sql: string): unknown[] {
  try {
    const parsed = parseSync(sql) as { stmts?: Array<{ stmt?: unknown }> };
    return (parsed.stmts ?? [])
      .map((s) => s.stmt)
      .filter((s) => s !== undefined)
      .map(normalize);
  } catch (error) {
    throw parseError(error, sql);
  }
}

/** A small LRU: Map keeps insertion order, so re-inserting on hit moves an entry to the back. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
  get size(): number {
    return this.map.size;
  }
}

const cache = new Lru<string, readonly AnalyzedStatement[]>(2000);
const shapes = new Lru<string, ShapeTemplate>(2000);
/** Longer strings are analysed every time: they are rarely repeated and would crowd the cache. */
const MAX_CACHED_LENGTH = 16 * 1024;

/**
 * analyzeSql with a bounded LRU keyed by the query text (agents repeat statements). Results are
 * frozen-by-convention shared objects: callers must not mutate them. Parse errors are not cached.
 */
export function analyzeCached(sql: string): readonly AnalyzedStatement[] {
  if (sql.length > MAX_CACHED_LENGTH) return analyzeSql(sql);
  const hit = cache.get(sql);
  if (hit) return hit;
  // The same statement with other numbers in it: no parse (and no cache entry per number).
  const shape = literalShape(sql);
  const template = shape && shapes.get(shape.key);
  const reused = template && instantiate(template, sql, shape);
  if (reused) return [reused];
  const result = analyzeSql(sql);
  cache.set(sql, result);
  const made = shape && makeTemplate(sql, shape, result);
  if (made) shapes.set(made.key, made);
  return result;
}
