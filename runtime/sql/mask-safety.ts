/**
 * Is a statement PROVABLY safe to run when masking is applied only to result columns whose
 * RowDescription origin (table oid, attnum) is a masked column? The gateway masks by origin, so the
 * proof obligation is: every classified value reaching the client travels in a column PostgreSQL
 * reports with a masked origin, and no classified value influences anything else the client sees
 * (other columns, row counts, ordering, errors of its own making, other tables).
 *
 * Facts about PostgreSQL this relies on (verified against PostgreSQL 18, see test/sql):
 * - a plain column reference keeps its origin through aliases, subqueries in FROM, CTEs
 *   (materialized or not), LATERAL subqueries, DISTINCT, GROUP BY and ORDER BY;
 * - a view column reports the VIEW's oid and the view column's attnum, not the base table's;
 * - FETCH from a cursor and EXECUTE of a prepared statement report the same origins as the query;
 * - RETURNING reports the target table's origins;
 * - set operations (UNION/INTERSECT/EXCEPT, recursive CTEs), scalar subqueries, functions, CASE,
 *   COLLATE and most casts report origin 0; a whole-row reference reports attnum 0.
 * Anything the analysis cannot follow is refused: "what cannot be proven safe is refused".
 */
import type { MaskStrategy } from '../engine/decision.ts';
import type { AnalyzedStatement } from './analyze.ts';
import { parseStatements } from './analyze.ts';
import { dottedName, isObject, list, nodeOf, str, stringValue, unwrap, walk, type Fields } from './ast.ts';
import type { Catalog, CatalogRelation } from './catalog.ts';
import { isServerFileFunction, isSqlExecutingFunction } from './functions.ts';

/** The decision's masks as a lookup; `label` (e.g. the classification) makes refusals readable. */
export type MaskLookup = (schema: string, table: string, column: string) => MaskStrategy | { strategy: MaskStrategy; label?: string } | undefined;

export interface OutputMask {
  /** RowDescription origin to mask: a table's or a view's oid and the column's attnum */
  tableOid: number;
  attnum: number;
  typeOid: number;
  strategy: MaskStrategy;
  /** schema.relation.column, for logs */
  column: string;
}

export type MaskSafety = { ok: true; outputMasks?: readonly OutputMask[] } | { ok: false; reason: string; unknownRelations?: readonly string[] };

export interface MaskSafetyOptions {
  /** whether any mask applies on this target; computed from the catalog when absent */
  masksActive?: boolean;
  /**
   * Relations the catalog does not know are refused (the gateway should refresh the catalog and ask
   * again). After a refresh they are relations PostgreSQL will not find either, or session temp
   * tables, which hold nothing classified: pass true then.
   */
  allowUnknownRelations?: boolean;
}

/**
 * System relations that expose column values of other relations: pg_stats carries most common
 * values and histogram bounds of every column, pg_stat_activity the text of running queries.
 */
const RESTRICTED_RELATIONS = new Set([
  'pg_stats',
  'pg_statistic',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
  'pg_statistic_ext_data',
  'pg_stat_activity',
  'pg_stat_statements',
  'pg_prepared_statements',
  'pg_cursors',
  'pg_largeobject',
]);

/** Statements that install code which later runs with the agent's rights, reading anything. */
const CODE_STATEMENTS: Record<string, string> = {
  CreateFunctionStmt: 'CREATE FUNCTION',
  CreateTrigStmt: 'CREATE TRIGGER',
  RuleStmt: 'CREATE RULE',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreateCastStmt: 'CREATE CAST',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  DefineStmt: 'CREATE AGGREGATE/OPERATOR/TYPE',
};

type Status = { kind: 'clear' } | { kind: 'masked'; col: string; label: string; strategy: MaskStrategy } | { kind: 'derived'; col: string; label: string; shape: string };

interface Col {
  name: string;
  status: Status;
}

interface Item {
  /** the name the item is visible by: alias, else relation name */
  alias: string;
  relation?: CatalogRelation;
  /** null: columns unknown (function results, relations not in the catalog) */
  cols: Col[] | null;
}

interface Scope {
  items: Item[];
  parent?: Scope;
  ctes: Map<string, Col[] | null>;
}

type Resolved = { kind: 'column'; status: Status } | { kind: 'row'; item: Item; text: string } | { kind: 'star'; items: Item[] };

class Refusal extends Error {}

const CLEAR: Status = { kind: 'clear' };

function refuse(reason: string): never {
  throw new Refusal(reason);
}

function isClassified(s: Status): s is Exclude<Status, { kind: 'clear' }> {
  return s.kind !== 'clear';
}

function colText(parts: readonly string[]): string {
  return parts.join('.');
}

/** A short human name for an expression node, for refusal messages. */
function shapeOf(node: unknown): string {
  const w = unwrap(node);
  if (!w) return 'an expression';
  const f = w.fields;
  switch (w.type) {
    case 'FuncCall':
      return `${dottedName(f['funcname'])}(...)`;
    case 'TypeCast':
      return `a cast to ${dottedName(nodeOf(f['typeName'], 'TypeName')?.['names'] ?? (f['typeName'] as Fields | undefined)?.['names']).replace(/^pg_catalog\./, '')}`;
    case 'A_Expr':
      return `operator ${dottedName(f['name'])}`;
    case 'BoolExpr':
      return str(f['boolop'])?.replace('_EXPR', '') ?? 'a boolean expression';
    case 'CaseExpr':
      return 'CASE';
    case 'CoalesceExpr':
      return 'COALESCE';
    case 'MinMaxExpr':
      return 'GREATEST/LEAST';
    case 'NullIfExpr':
      return 'NULLIF';
    case 'CollateClause':
      return 'COLLATE';
    case 'SubLink':
      return 'a subquery';
    case 'RowExpr':
      return 'ROW(...)';
    case 'A_ArrayExpr':
      return 'ARRAY[...]';
    case 'A_Indirection':
      return 'field or subscript access';
    case 'NullTest':
      return 'IS [NOT] NULL';
    case 'BooleanTest':
      return 'IS [NOT] TRUE/FALSE';
    default:
      return w.type;
  }
}

class Analysis {
  readonly outputMasks = new Map<string, OutputMask>();
  readonly unknown = new Set<string>();
  private readonly views = new Map<number, { cols: Col[] } | { refusal: string }>();
  private readonly expanding = new Set<number>();

  constructor(
    private readonly catalog: Catalog,
    private readonly maskOf: MaskLookup,
    private readonly masksActive: boolean,
  ) {}

  private statusOf(rel: CatalogRelation, column: string): Status {
    const m = maskOfColumn(this.catalog, this.maskOf, rel, column);
    if (m === undefined) return CLEAR;
    const strategy = typeof m === 'string' ? m : m.strategy;
    const label = typeof m === 'string' ? `masked (${strategy})` : m.label ? `classified (${m.label})` : `masked (${strategy})`;
    return { kind: 'masked', col: `${rel.name}.${column}`, label, strategy };
  }

  private strategyOf(rel: CatalogRelation, column: string): MaskStrategy | undefined {
    const m = maskOfColumn(this.catalog, this.maskOf, rel, column);
    return m === undefined ? undefined : typeof m === 'string' ? m : m.strategy;
  }

  // ---------------------------------------------------------------- relations

  private relationItem(rv: Fields, scope: Scope | undefined): Item {
    const name = str(rv['relname']) ?? '';
    const schema = str(rv['schemaname']);
    const aliasNode = nodeOf(rv['alias'], 'Alias') ?? (isObject(rv['alias']) ? rv['alias'] : undefined);
    const alias = str(aliasNode?.['aliasname']) ?? name;
    const colnames = list(aliasNode?.['colnames']).map(stringValue);
    const rename = (cols: Col[] | null): Col[] | null => (cols ? cols.map((c, i) => ({ ...c, name: colnames[i] ?? c.name })) : null);

    if (!schema) {
      for (let s: Scope | undefined = scope; s; s = s.parent) {
        if (s.ctes.has(name)) return { alias, cols: rename(s.ctes.get(name) ?? null) };
      }
    }
    const rel = this.catalog.resolve(name, schema);
    if (!rel) {
      if (this.masksActive && (schema === undefined || schema === 'pg_catalog') && RESTRICTED_RELATIONS.has(name)) {
        refuse(`${name} exposes values of other relations' columns, classified ones included; refused while masks apply on this target`);
      }
      this.unknown.add(schema ? `${schema}.${name}` : name);
      return { alias, cols: null };
    }
    if (this.masksActive && rel.schema === 'pg_catalog' && RESTRICTED_RELATIONS.has(rel.name)) {
      refuse(`${rel.name} exposes values of other relations' columns, classified ones included; refused while masks apply on this target`);
    }
    let cols: Col[];
    if (rel.kind === 'view' || rel.kind === 'matview') {
      cols = this.viewColumns(rel);
    } else {
      cols = rel.columns.map((c) => ({ name: c.name, status: this.statusOf(rel, c.name) }));
    }
    rel.columns.forEach((c, i) => {
      const status = cols[i]?.status;
      if (!status || status.kind !== 'masked') return;
      // A view column reports the view as its origin: it is masked with its base column's strategy.
      const strategy = rel.kind === 'view' || rel.kind === 'matview' ? this.viewStrategy(status) : this.strategyOf(rel, c.name);
      if (!strategy) return;
      this.outputMasks.set(`${rel.oid}:${c.attnum}`, {
        tableOid: rel.oid,
        attnum: c.attnum,
        typeOid: c.typeOid,
        strategy,
        column: `${rel.schema}.${rel.name}.${c.name}`,
      });
    });
    return { alias, relation: rel, cols: rename(cols) };
  }

  private viewStrategy(status: Status): MaskStrategy | undefined {
    return status.kind === 'masked' ? status.strategy : undefined;
  }

  /**
   * A view (or materialized view) column is masked when the definition passes a masked column
   * through, derived when it computes from one. A definition that could not be run as a query
   * under masks (a classified column in its WHERE, say) makes the whole view unreadable.
   */
  private viewColumns(rel: CatalogRelation): Col[] {
    const cached = this.views.get(rel.oid);
    if (cached) {
      if ('refusal' in cached) refuse(cached.refusal);
      return cached.cols;
    }
    if (this.expanding.has(rel.oid)) refuse(`view ${rel.name} refers to itself`);
    this.expanding.add(rel.oid);
    try {
      const stmt = rel.viewDefinition ? parseStatements(rel.viewDefinition)[0] : undefined;
      const sel = nodeOf(stmt, 'SelectStmt');
      if (!sel) refuse(`the definition of view ${rel.name} is not available to check`);
      const out = this.select(sel, undefined, 'view');
      const cols = rel.columns.map((c, i) => ({ name: c.name, status: out[i]?.status ?? CLEAR }));
      this.views.set(rel.oid, { cols });
      return cols;
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      const refusal = `view ${rel.schema}.${rel.name} cannot be proven safe to read under masks: ${error.message}`;
      this.views.set(rel.oid, { refusal });
      refuse(refusal);
    } finally {
      this.expanding.delete(rel.oid);
    }
  }

  // ---------------------------------------------------------------- FROM

  private fromItems(nodes: unknown[], scope: Scope): void {
    for (const node of nodes) scope.items.push(...this.fromItem(node, scope));
  }

  private fromItem(node: unknown, scope: Scope): Item[] {
    const w = unwrap(node);
    if (!w) return [];
    const f = w.fields;
    switch (w.type) {
      case 'RangeVar':
        return [this.relationItem(f, scope)];
      case 'RangeSubselect': {
        const aliasNode = nodeOf(f['alias'], 'Alias') ?? (isObject(f['alias']) ? f['alias'] : undefined);
        const colnames = list(aliasNode?.['colnames']).map(stringValue);
        // LATERAL or not, give the subquery the items so far: PostgreSQL rejects what is not allowed.
        const out = this.subquery(f['subquery'], scope, 'from');
        return [{ alias: str(aliasNode?.['aliasname']) ?? '', cols: out.map((c, i) => ({ ...c, name: colnames[i] ?? c.name })) }];
      }
      case 'JoinExpr': {
        const inner: Scope = { items: [], parent: scope.parent, ctes: scope.ctes };
        const left = this.fromItem(f['larg'], { ...inner, items: scope.items });
        const right = this.fromItem(f['rarg'], { ...inner, items: [...scope.items, ...left] });
        const joinScope: Scope = { items: [...scope.items, ...left, ...right], ctes: scope.ctes };
        if (scope.parent) joinScope.parent = scope.parent;
        for (const u of list(f['usingClause'])) {
          const name = stringValue(u) ?? '';
          for (const side of [left, right]) {
            const r = this.resolveName([name], { items: side, ctes: scope.ctes });
            if (r.kind === 'column' && isClassified(r.status)) this.refuseClause(r.status, 'JOIN ... USING');
          }
        }
        if (f['isNatural'] === true) {
          const names = (items: Item[]) => new Set(items.flatMap((i) => (i.cols ?? []).map((c) => c.name)));
          const l = names(left);
          for (const item of [...left, ...right]) {
            for (const c of item.cols ?? []) if (isClassified(c.status) && l.has(c.name) && names(right).has(c.name)) this.refuseClause(c.status, 'NATURAL JOIN');
            if (item.cols === null && [...left, ...right].some((i) => i.cols?.some((c) => isClassified(c.status)))) {
              refuse('NATURAL JOIN with a relation of unknown columns next to classified columns cannot be checked; join with ON');
            }
          }
        }
        if (f['quals']) this.clause(f['quals'], joinScope, 'a JOIN condition');
        const items = [...left, ...right];
        const aliasNode = nodeOf(f['alias'], 'Alias') ?? (isObject(f['alias']) ? f['alias'] : undefined);
        const alias = str(aliasNode?.['aliasname']);
        if (alias) items.push({ alias, cols: items.some((i) => i.cols === null) ? null : items.flatMap((i) => i.cols ?? []) });
        return items;
      }
      case 'RangeFunction':
      case 'RangeTableFunc':
      case 'JsonTable':
      case 'RangeTableSample': {
        const rel = w.type === 'RangeTableSample' ? this.fromItem(f['relation'], scope) : [];
        for (const [key, child] of Object.entries(f)) {
          if (key === 'relation' || key === 'alias') continue;
          this.expression(child, scope, 'a function in FROM');
        }
        const aliasNode = nodeOf(f['alias'], 'Alias') ?? (isObject(f['alias']) ? f['alias'] : undefined);
        return rel.length > 0 ? rel : [{ alias: str(aliasNode?.['aliasname']) ?? '', cols: null }];
      }
      default:
        this.expression(node, scope, 'FROM');
        return [];
    }
  }

  // ---------------------------------------------------------------- names

  private findItem(qualifier: string[], scope: Scope): Item | undefined {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      for (let i = s.items.length - 1; i >= 0; i--) {
        const item = s.items[i]!;
        if (qualifier.length === 1 && item.alias === qualifier[0]) return item;
        if (
          qualifier.length >= 2 &&
          item.relation &&
          item.alias === item.relation.name &&
          item.relation.name === qualifier[qualifier.length - 1] &&
          item.relation.schema === qualifier[qualifier.length - 2]
        )
          return item;
      }
    }
    return undefined;
  }

  /** Fail closed for a name the analysis cannot pin down: masked if any relation in scope masks that name. */
  private anyMasked(name: string, scope: Scope): Status {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      for (const item of s.items) {
        const c = item.cols?.find((col) => col.name === name && isClassified(col.status));
        if (c) return c.status;
      }
    }
    return CLEAR;
  }

  private resolveName(parts: string[], scope: Scope): Resolved {
    const last = parts[parts.length - 1]!;
    if (parts.length === 1) {
      if (last === '*') {
        return { kind: 'star', items: scope.items };
      }
      for (let s: Scope | undefined = scope; s; s = s.parent) {
        const matches = s.items.flatMap((i) => (i.cols ?? []).filter((c) => c.name === last));
        const open = s.items.some((i) => i.cols === null);
        if (matches.length === 1 && !open) return { kind: 'column', status: matches[0]!.status };
        if (matches.length > 1 || (matches.length === 1 && open)) {
          const masked = matches.find((m) => isClassified(m.status));
          return { kind: 'column', status: masked?.status ?? this.anyMasked(last, scope) };
        }
        const item = s.items.find((i) => i.alias === last);
        if (item && !open) return { kind: 'row', item, text: last };
        if (open) return { kind: 'column', status: this.anyMasked(last, scope) };
      }
      return { kind: 'column', status: this.anyMasked(last, scope) };
    }
    const item = this.findItem(parts.slice(0, -1), scope);
    if (last === '*') {
      if (!item) return { kind: 'star', items: [] };
      return { kind: 'star', items: [item] };
    }
    if (!item || item.cols === null) return { kind: 'column', status: this.anyMasked(last, scope) };
    const col = item.cols.find((c) => c.name === last);
    return { kind: 'column', status: col ? col.status : this.anyMasked(last, scope) };
  }

  private columnRefParts(f: Fields): string[] {
    return list(f['fields']).map((p) => stringValue(p) ?? (unwrap(p)?.type === 'A_Star' ? '*' : '?'));
  }

  // ---------------------------------------------------------------- refusals

  private refuseExpression(s: Exclude<Status, { kind: 'clear' }>, shape: string): never {
    if (s.kind === 'derived') refuse(`${s.col} is computed from a column that is ${s.label} (${s.shape}); only views that pass classified columns through unchanged can be read`);
    refuse(`${s.col} is ${s.label} and flows into an expression (${shape}); only plain column references to classified columns are allowed`);
  }

  private refuseClause(s: Exclude<Status, { kind: 'clear' }>, clause: string): never {
    if (s.kind === 'derived') this.refuseExpression(s, s.shape);
    refuse(`${s.col} is ${s.label} and is used in ${clause}, which reveals information about its values; classified columns may only be selected, not filtered, joined, grouped or sorted on`);
  }

  private refuseRow(item: Item, text: string): void {
    const c = item.cols?.find((col) => isClassified(col.status));
    if (!c || !isClassified(c.status)) return;
    refuse(
      `${item.relation?.name ?? item.alias} has ${c.status.kind === 'masked' ? c.status.col : c.name}, which is ${c.status.label}, and is referenced as a whole row (${text}); whole-row values carry no column origin to mask by, so list the columns instead`,
    );
  }

  // ---------------------------------------------------------------- expressions

  /**
   * Check an expression in which no classified column may appear at all. `where` names the place
   * ('WHERE', 'an expression', ...); in target lists the shape of the outermost node is reported.
   */
  private expression(node: unknown, scope: Scope, where: string, clause = false): void {
    let outer = unwrap(node) ? shapeOf(node) : undefined;
    walk(node, (w) => {
      const f = w.fields;
      if (outer === undefined && w.type !== 'List' && w.type !== 'ColumnRef') outer = shapeOf({ [w.type]: f });
      switch (w.type) {
        case 'ColumnRef': {
          const r = this.resolveName(this.columnRefParts(f), scope);
          if (r.kind === 'column' && isClassified(r.status)) {
            if (clause) this.refuseClause(r.status, where);
            this.refuseExpression(r.status, outer ?? 'an expression');
          }
          if (r.kind === 'row') this.refuseRow(r.item, r.text);
          if (r.kind === 'star') for (const item of r.items) this.refuseRow(item, `${item.alias}.*`);
          return false;
        }
        case 'SubLink': {
          const out = this.subquery(f['subselect'], scope, 'sublink');
          if (str(f['subLinkType']) !== 'EXISTS_SUBLINK') {
            const c = out.find((col) => isClassified(col.status));
            if (c && isClassified(c.status)) {
              if (clause) this.refuseClause(c.status, where);
              this.refuseExpression(c.status, 'a subquery used as a value, whose result carries no column origin');
            }
          }
          if (f['testexpr']) this.expression(f['testexpr'], scope, where, clause);
          return false;
        }
        case 'FuncCall':
          this.functionCall(dottedName(f['funcname']));
          return true;
        case 'A_Expr':
        case 'A_Expr_Kind': {
          const op = dottedName(f['name']);
          if (this.masksActive && op && this.catalog.isUserOperator(op.split('.').pop() ?? op)) {
            refuse(`the statement uses operator ${op}, which is user-defined and could run code that reads classified data; refused while masks apply on this target`);
          }
          return true;
        }
        case 'SelectStmt':
          this.subquery({ SelectStmt: f }, scope, 'sublink');
          return false;
        default:
          return true;
      }
    });
  }

  private clause(node: unknown, scope: Scope, where: string): void {
    this.expression(node, scope, where, true);
  }

  private functionCall(name: string): void {
    if (!this.masksActive) return;
    if (isSqlExecutingFunction(name)) {
      refuse(`the statement calls ${name}, which runs SQL the gateway cannot see; refused while masks apply on this target`);
    }
    if (this.catalog.isUserFunction(name)) {
      refuse(`the statement calls ${name}, a user-defined function that could read classified data out of the gateway's sight; refused while masks apply on this target`);
    }
  }

  // ---------------------------------------------------------------- SELECT

  private subquery(node: unknown, scope: Scope, _use: 'from' | 'sublink'): Col[] {
    const w = unwrap(node);
    if (!w) return [];
    if (w.type === 'SelectStmt') return this.select(w.fields, scope, 'nested');
    return this.dml(w.type, w.fields, scope);
  }

  private withClause(f: Fields, scope: Scope): void {
    const wc = nodeOf(f['withClause'], 'WithClause');
    if (!wc) return;
    const recursive = wc['recursive'] === true;
    const ctes = list(wc['ctes'])
      .map((c) => nodeOf(c, 'CommonTableExpr'))
      .filter((c): c is Fields => !!c);
    for (const c of ctes) {
      const name = str(c['ctename']) ?? '';
      // A recursive CTE is a UNION over itself: its columns lose their origin, so it passes nothing
      // classified (the set-operation rule refuses classified columns in it).
      if (recursive) scope.ctes.set(name, null);
      const out = this.subquery(c['ctequery'], scope, 'from');
      const names = list(c['aliascolnames']).map(stringValue);
      scope.ctes.set(
        name,
        out.map((col, i) => ({ ...col, name: names[i] ?? col.name })),
      );
    }
  }

  /**
   * Analyse a SELECT; returns its output columns with their status. `mode` says where the output
   * goes: 'top' (the client, masked by origin), 'nested' (an enclosing query), 'view'.
   */
  select(f: Fields, parent: Scope | undefined, mode: 'top' | 'nested' | 'view'): Col[] {
    const scope: Scope = { items: [], ctes: new Map(parent?.ctes ?? []) };
    if (parent) scope.parent = parent;
    this.withClause(f, scope);

    const op = str(f['op']);
    if (op && op !== 'SETOP_NONE') {
      const name = op.replace('SETOP_', '');
      const left = this.subquery(f['larg'], scope, 'from');
      const right = this.subquery(f['rarg'], scope, 'from');
      for (const c of [...left, ...right]) {
        if (isClassified(c.status)) {
          if (c.status.kind === 'derived') this.refuseExpression(c.status, c.status.shape);
          refuse(`${c.status.col} is ${c.status.label} and flows into ${name}, whose result columns carry no origin the gateway can mask by; select it without a set operation`);
        }
      }
      this.orderAndLimit(f, scope, left);
      return left.map((c) => ({ name: c.name, status: CLEAR }));
    }

    if (f['valuesLists']) {
      const rows = list(f['valuesLists']);
      for (const row of rows) this.expression(row, scope, 'VALUES');
      const first = list(nodeOf(rows[0], 'List')?.['items']);
      return first.map((_, i) => ({ name: `column${i + 1}`, status: CLEAR }));
    }

    this.fromItems(list(f['fromClause']), scope);
    if (f['whereClause']) this.clause(f['whereClause'], scope, 'WHERE');

    const out: Col[] = [];
    for (const t of list(f['targetList'])) {
      const rt = nodeOf(t, 'ResTarget');
      if (!rt) continue;
      const val = rt['val'];
      const ref = nodeOf(val, 'ColumnRef');
      const name = str(rt['name']);
      if (ref) {
        const parts = this.columnRefParts(ref);
        const r = this.resolveName(parts, scope);
        if (r.kind === 'star') {
          for (const item of r.items) {
            if (item.cols === null) continue;
            for (const c of item.cols) {
              if (c.status.kind === 'derived') this.refuseExpression(c.status, c.status.shape);
              out.push(c);
            }
          }
          continue;
        }
        if (r.kind === 'row') {
          this.refuseRow(r.item, colText(parts));
          out.push({ name: name ?? r.text, status: CLEAR });
          continue;
        }
        if (r.status.kind === 'derived') this.refuseExpression(r.status, r.status.shape);
        out.push({ name: name ?? parts[parts.length - 1]!, status: r.status });
        continue;
      }
      if (mode === 'view') {
        // A view column computed from a classified one is only refused when someone reads it.
        const derived = this.derivedStatus(val, scope);
        out.push({ name: name ?? '?column?', status: derived });
        continue;
      }
      this.expression(val, scope, 'an expression');
      out.push({ name: name ?? (nodeOf(val, 'FuncCall') ? dottedName(nodeOf(val, 'FuncCall')!['funcname']).split('.').pop()! : '?column?'), status: CLEAR });
    }

    for (const g of list(f['groupClause'])) this.sortKey(g, scope, out, 'GROUP BY');
    if (f['havingClause']) this.clause(f['havingClause'], scope, 'HAVING');
    for (const wd of list(f['windowClause'])) this.clause(wd, scope, 'a window definition');
    for (const d of list(f['distinctClause'])) if (unwrap(d)) this.sortKey(d, scope, out, 'DISTINCT ON');
    this.orderAndLimit(f, scope, out);
    if (f['intoClause']) this.sink(out, 'SELECT INTO');
    return out;
  }

  /** In a view definition, an expression over a classified column makes a derived column. */
  private derivedStatus(val: unknown, scope: Scope): Status {
    try {
      this.expression(val, scope, 'an expression');
      return CLEAR;
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      const m = /^(\S+) is (\S+ \([^)]*\))/.exec(error.message);
      if (!m) throw error;
      return { kind: 'derived', col: m[1]!, label: m[2]!, shape: shapeOf(val) };
    }
  }

  private orderAndLimit(f: Fields, scope: Scope, out: Col[]): void {
    for (const s of list(f['sortClause'])) this.sortKey(nodeOf(s, 'SortBy')?.['node'] ?? s, scope, out, 'ORDER BY');
    if (f['limitCount']) this.clause(f['limitCount'], scope, 'LIMIT');
    if (f['limitOffset']) this.clause(f['limitOffset'], scope, 'OFFSET');
  }

  /**
   * ORDER BY / GROUP BY / DISTINCT ON keys may name an output column by position or alias as well
   * as an input column: check every reading PostgreSQL could choose.
   */
  private sortKey(node: unknown, scope: Scope, out: Col[], where: string): void {
    const c = nodeOf(node, 'A_Const');
    const ival = c && isObject(c['ival']) ? c['ival']['ival'] : undefined;
    if (c && (typeof ival === 'number' || (c['ival'] !== undefined && ival === undefined))) {
      const pos = typeof ival === 'number' ? ival : 0;
      const target = out[pos - 1];
      if (target && isClassified(target.status)) this.refuseClause(target.status, where);
      return;
    }
    const ref = nodeOf(node, 'ColumnRef');
    if (ref) {
      const parts = this.columnRefParts(ref);
      if (parts.length === 1) {
        const target = out.find((o) => o.name === parts[0]);
        if (target && isClassified(target.status)) this.refuseClause(target.status, where);
      }
    }
    this.clause(node, scope, where);
  }

  // ---------------------------------------------------------------- sinks

  /** Output that leaves the result set (another table, COPY, a new relation): nothing classified. */
  private sink(out: Col[], what: string): void {
    const c = out.find((col) => isClassified(col.status));
    if (c && isClassified(c.status)) {
      if (c.status.kind === 'derived') this.refuseExpression(c.status, c.status.shape);
      refuse(`${c.status.col} is ${c.status.label} and is copied by ${what}, out of reach of result masking; leave it out of the statement`);
    }
  }

  // ---------------------------------------------------------------- data modification

  private returning(f: Fields, scope: Scope): Col[] {
    const rc = nodeOf(f['returningClause'], 'ReturningClause');
    const items = list(rc?.['exprs'] ?? f['returningList']);
    for (const t of items) {
      const rt = nodeOf(t, 'ResTarget');
      if (!rt) continue;
      const ref = nodeOf(rt['val'], 'ColumnRef');
      if (ref) {
        const r = this.resolveName(this.columnRefParts(ref), scope);
        const items = r.kind === 'star' ? r.items : r.kind === 'row' ? [r.item] : [];
        for (const item of items) {
          const c = item.cols?.find((col) => isClassified(col.status));
          if (c && isClassified(c.status)) this.refuseClause(c.status, 'RETURNING (through a * or whole-row reference)');
        }
      }
      this.clause(rt['val'], scope, 'RETURNING');
    }
    return items.map(() => ({ name: '?column?', status: CLEAR }));
  }

  private writesUnique(rel: CatalogRelation | undefined, columns: string[]): void {
    if (!rel || !rel.uniqueColumns) return;
    for (const col of columns) {
      if (!rel.uniqueColumns.includes(col)) continue;
      const s = this.statusOf(rel, col);
      if (s.kind === 'masked') {
        refuse(`${s.col} is ${s.label} and unique: writing it reveals whether a value already exists (a unique violation); refused while masks apply on this target`);
      }
    }
  }

  dml(type: string, f: Fields, parent: Scope | undefined): Col[] {
    const scope: Scope = { items: [], ctes: new Map(parent?.ctes ?? []) };
    if (parent) scope.parent = parent;
    this.withClause(f, scope);
    const target = nodeOf(f['relation'], 'RangeVar');
    const targetItem = target ? this.relationItem(target, scope) : undefined;
    switch (type) {
      case 'InsertStmt': {
        const sel = nodeOf(f['selectStmt'], 'SelectStmt');
        if (sel) this.sink(this.select(sel, scope, 'nested'), 'INSERT ... SELECT');
        const cols = list(f['cols']).map((c) => str(nodeOf(c, 'ResTarget')?.['name']) ?? '');
        this.writesUnique(targetItem?.relation, cols.length > 0 ? cols : (targetItem?.relation?.columns.map((c) => c.name) ?? []));
        if (targetItem) scope.items.push(targetItem);
        const oc = nodeOf(f['onConflictClause'], 'OnConflictClause');
        if (oc) {
          if (targetItem?.cols) scope.items.push({ alias: 'excluded', cols: targetItem.cols.map((c) => ({ name: c.name, status: CLEAR })) });
          this.clause(oc['infer'], scope, 'ON CONFLICT');
          for (const t of list(oc['targetList'])) this.clause(nodeOf(t, 'ResTarget')?.['val'], scope, 'ON CONFLICT DO UPDATE SET');
          if (oc['whereClause']) this.clause(oc['whereClause'], scope, 'ON CONFLICT ... WHERE');
        }
        return this.returning(f, scope);
      }
      case 'UpdateStmt': {
        if (targetItem) scope.items.push(targetItem);
        this.fromItems(list(f['fromClause']), scope);
        const cols: string[] = [];
        for (const t of list(f['targetList'])) {
          const rt = nodeOf(t, 'ResTarget');
          if (!rt) continue;
          cols.push(str(rt['name']) ?? '');
          this.clause(rt['val'], scope, 'UPDATE ... SET');
        }
        this.writesUnique(targetItem?.relation, cols);
        if (f['whereClause']) this.clause(f['whereClause'], scope, 'WHERE');
        return this.returning(f, scope);
      }
      case 'DeleteStmt': {
        if (targetItem) scope.items.push(targetItem);
        this.fromItems(list(f['usingClause']), scope);
        if (f['whereClause']) this.clause(f['whereClause'], scope, 'WHERE');
        return this.returning(f, scope);
      }
      case 'MergeStmt': {
        if (targetItem) scope.items.push(targetItem);
        this.fromItems([f['sourceRelation']], scope);
        this.clause(f['joinCondition'], scope, 'MERGE ... ON');
        for (const wc of list(f['mergeWhenClauses'])) this.clause(wc, scope, 'MERGE ... WHEN');
        return this.returning(f, scope);
      }
      default:
        return [];
    }
  }

  // ---------------------------------------------------------------- statements

  statement(ast: unknown): void {
    const w = unwrap(ast);
    if (!w) return;
    const { type, fields: f } = w;
    if (this.masksActive && CODE_STATEMENTS[type]) {
      refuse(`${CODE_STATEMENTS[type]} installs or runs code that could read classified data out of the gateway's sight; refused while masks apply on this target`);
    }
    if (this.masksActive) {
      walk(ast, (n) => {
        if (n.type !== 'FuncCall') return true;
        const name = dottedName(n.fields['funcname']);
        if (isServerFileFunction(name)) {
          refuse(
            `the statement calls ${name}, which reads server files or relation storage (raw table bytes carry classified values with no column to mask); refused while masks apply on this target, whatever the policy allows`,
          );
        }
        return true;
      });
    }
    switch (type) {
      case 'SelectStmt':
        this.select(f, undefined, 'top');
        return;
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        this.dml(type, f, undefined);
        return;
      case 'ExplainStmt':
      case 'PrepareStmt':
      case 'DeclareCursorStmt':
        this.statement(f['query']);
        return;
      case 'ExecuteStmt':
        for (const p of list(f['params'])) this.expression(p, { items: [], ctes: new Map() }, 'an EXECUTE parameter');
        return;
      case 'CopyStmt': {
        const q = unwrap(f['query']);
        if (q) {
          const out = q.type === 'SelectStmt' ? this.select(q.fields, undefined, 'nested') : this.dml(q.type, q.fields, undefined);
          this.sink(out, 'COPY (query)');
          return;
        }
        const rv = nodeOf(f['relation'], 'RangeVar');
        if (!rv || f['is_from'] === true) return;
        const item = this.relationItem(rv, undefined);
        const listed = list(f['attlist']).map(stringValue);
        const cols = (item.cols ?? []).filter((c) => listed.length === 0 || listed.includes(c.name));
        const c = cols.find((col) => isClassified(col.status));
        if (c && isClassified(c.status)) {
          refuse(
            `COPY ${rv['relname']} TO would send ${c.status.kind === 'masked' ? c.status.col : c.name}, which is ${c.status.label}, in a stream without column origins; list only unclassified columns, e.g. COPY ${rv['relname']} (${(
              item.cols ?? []
            )
              .filter((x) => !isClassified(x.status))
              .map((x) => x.name)
              .join(', ')}) TO STDOUT`,
          );
        }
        return;
      }
      case 'RenameStmt':
      case 'AlterTableStmt':
        this.schemaChange(type, f);
        this.otherStatement(f);
        return;
      case 'CreateTableAsStmt':
      case 'ViewStmt': {
        const q = unwrap(f['query']);
        if (q?.type === 'SelectStmt') this.sink(this.select(q.fields, undefined, 'nested'), type === 'ViewStmt' ? 'CREATE VIEW' : 'CREATE TABLE AS');
        return;
      }
      default:
        this.otherStatement(f);
    }
  }

  /**
   * DDL over a classified column is refused like copying it: a rename or a new type moves it out
   * from under a mask by name (the gateway follows renames it sees, but not one inside an agent's
   * open transaction), a default or generated expression computes from it, and even SET NOT NULL
   * fails or not depending on its values. Dropping it is allowed: the data goes with it.
   */
  private schemaChange(type: string, f: Fields): void {
    const rv = nodeOf(f['relation'], 'RangeVar');
    if (!rv) return;
    const columns: { name: string; what: string }[] = [];
    if (type === 'RenameStmt') {
      if (str(f['renameType']) === 'OBJECT_COLUMN' && str(f['subname'])) columns.push({ name: str(f['subname'])!, what: 'RENAME COLUMN' });
    } else {
      for (const c of list(f['cmds'])) {
        const cmd = nodeOf(c, 'AlterTableCmd');
        const name = str(cmd?.['name']);
        const subtype = str(cmd?.['subtype']) ?? '';
        if (!cmd || !name || subtype === 'AT_DropColumn') continue;
        columns.push({ name, what: `ALTER TABLE (${subtype.replace(/^AT_/, '')})` });
      }
    }
    if (columns.length === 0) return;
    const item = this.relationItem(rv, undefined);
    for (const { name, what } of columns) {
      const c = item.cols?.find((col) => col.name === name);
      if (c && isClassified(c.status)) {
        refuse(
          `${what} on ${c.status.kind === 'masked' ? c.status.col : name}, which is ${c.status.label}, would move or compute from it out of reach of result masking; refused while masks apply on this target`,
        );
      }
    }
  }

  /**
   * Everything else (DDL, utility statements): queries inside are checked as sinks, and a classified
   * column named in an expression (a CHECK constraint, an index predicate, a trigger condition) is an
   * oracle the statement sets up, so it is refused.
   */
  private otherStatement(f: Fields): void {
    const scope: Scope = { items: [], ctes: new Map() };
    walk(f, (w) => {
      if (w.type === 'RangeVar') {
        scope.items.push(this.relationItem(w.fields, undefined));
        return false;
      }
      return true;
    });
    walk(f, (w) => {
      if (w.type === 'SelectStmt') {
        this.sink(this.select(w.fields, undefined, 'nested'), 'the statement');
        return false;
      }
      if (w.type === 'ColumnRef' || w.type === 'FuncCall' || w.type === 'SubLink') {
        this.clause({ [w.type]: w.fields }, scope, 'a schema expression (constraint, index or default)');
        return false;
      }
      return true;
    });
  }
}

const strength: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

function strategyIn(m: ReturnType<MaskLookup>): MaskStrategy | undefined {
  return m === undefined ? undefined : typeof m === 'string' ? m : m.strategy;
}

/**
 * The strongest mask on a column under its current name or any name the catalog saw it under
 * before (its relation oid and attnum stayed): a classification follows the data through renames.
 */
export function maskOfColumn(catalog: Catalog, maskOf: MaskLookup, rel: CatalogRelation, column: string): ReturnType<MaskLookup> {
  let best = maskOf(rel.schema, rel.name, column);
  const attnum = rel.columns.find((c) => c.name === column)?.attnum;
  const former = attnum === undefined ? undefined : catalog.formerNames(rel.oid, attnum);
  if (!former) return best;
  for (const name of former) {
    // The lookup matches the joined name, so where a dotted part is split does not matter.
    const a = name.indexOf('.');
    const b = name.indexOf('.', a + 1);
    const m = maskOf(name.slice(0, a), name.slice(a + 1, b), name.slice(b + 1));
    const s = strategyIn(m);
    const current = strategyIn(best);
    if (s && (!current || strength[s] > strength[current])) best = m;
  }
  return best;
}

const trackedCache = new WeakMap<MaskLookup, { version: number; catalog: Catalog }>();

/** Have the catalog remember (by oid and attnum) every column these masks classify right now. */
export function trackClassified(catalog: Catalog, maskOf: MaskLookup): void {
  const hit = trackedCache.get(maskOf);
  if (hit && hit.catalog === catalog && hit.version === catalog.version) return;
  catalog.track((rel, c) => maskOf(rel.schema, rel.name, c.name) !== undefined);
  trackedCache.set(maskOf, { version: catalog.version, catalog });
}

const activeCache = new WeakMap<MaskLookup, { version: number; catalog: Catalog; active: boolean }>();

/** Does any column of a user relation carry a mask? (System schemas are not classified.) */
export function masksActiveOn(catalog: Catalog, maskOf: MaskLookup): boolean {
  const hit = activeCache.get(maskOf);
  if (hit && hit.catalog === catalog && hit.version === catalog.version) return hit.active;
  let active = false;
  outer: for (const rel of catalog.relations()) {
    if (rel.schema === 'pg_catalog' || rel.schema === 'information_schema') continue;
    for (const c of rel.columns) {
      if (maskOfColumn(catalog, maskOf, rel, c.name) !== undefined) {
        active = true;
        break outer;
      }
    }
  }
  activeCache.set(maskOf, { version: catalog.version, catalog, active });
  return active;
}

/**
 * Decide whether `stmt` is provably safe under origin-based result masking. For EXECUTE, FETCH and
 * MOVE the gateway must check the PREPARE / DECLARE it resolves to (the inner statement carries the
 * proof; PostgreSQL reports the same origins when the results come back).
 */
export function checkMaskSafety(stmt: AnalyzedStatement, catalog: Catalog, maskOf: MaskLookup, options: MaskSafetyOptions = {}): MaskSafety {
  const active = options.masksActive ?? masksActiveOn(catalog, maskOf);
  if (!active) return { ok: true };
  const analysis = new Analysis(catalog, maskOf, active);
  try {
    analysis.statement(stmt.ast);
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, reason: error.message };
    throw error;
  }
  if (analysis.unknown.size > 0 && !options.allowUnknownRelations) {
    const names = [...analysis.unknown];
    return {
      ok: false,
      reason: `relation${names.length > 1 ? 's' : ''} ${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} not in the gateway's catalog, so the statement cannot be checked for classified columns`,
      unknownRelations: names,
    };
  }
  const outputMasks = [...analysis.outputMasks.values()];
  return outputMasks.length > 0 ? { ok: true, outputMasks } : { ok: true };
}
