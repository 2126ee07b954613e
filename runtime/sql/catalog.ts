/**
 * The slice of the backend's catalog the gateway needs to reason about masking: relations and
 * their columns, view definitions, the search_path, and which function and operator names are not
 * built-in. It is loaded through a callback so the gateway runs the queries on its own backend
 * connection (never the agent's session, whose state the agent controls).
 */

export type CatalogQuery = (sql: string) => Promise<Array<Record<string, string | null>>>;

export type RelationKind = 'table' | 'view' | 'matview' | 'foreign' | 'partitioned';

export interface CatalogColumn {
  attnum: number;
  name: string;
  typeOid: number;
}

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  /** ordered by attnum; dropped columns left out */
  columns: readonly CatalogColumn[];
  /** `pg_get_viewdef` for views and materialized views */
  viewDefinition?: string;
  /** names of columns covered alone by a unique index (writing them is an existence oracle) */
  uniqueColumns?: readonly string[];
}

export interface ColumnOrigin {
  relation: CatalogRelation;
  column: CatalogColumn;
}

export interface CatalogSnapshot {
  relations: readonly CatalogRelation[];
  /** effective schema search order, pg_catalog included where PostgreSQL puts it */
  searchPath: readonly string[];
  userFunctions: readonly string[];
  userOperators: readonly string[];
}

const KINDS: Record<string, RelationKind> = { r: 'table', v: 'view', m: 'matview', f: 'foreign', p: 'partitioned' };

const RELATIONS_SQL = `select c.oid::int8::text as oid, n.nspname as schema, c.relname as name, c.relkind as kind,
  case when c.relkind in ('v','m') then pg_catalog.pg_get_viewdef(c.oid) end as viewdef
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r','v','m','f','p') and n.nspname !~ '^pg_(toast|temp_|toast_temp_)'`;

const COLUMNS_SQL = `select a.attrelid::int8::text as relid, a.attnum::text as attnum, a.attname as name,
  a.atttypid::int8::text as typid
from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r','v','m','f','p')
  and n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
order by a.attrelid, a.attnum`;

const UNIQUE_SQL = `select i.indrelid::int8::text as relid, a.attname as name
from pg_catalog.pg_index i join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
where i.indisunique and i.indnatts = 1 and i.indkey[0] > 0`;

const FUNCTIONS_SQL = `select distinct p.proname as name from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where n.nspname not in ('pg_catalog', 'information_schema')`;

const OPERATORS_SQL = `select distinct o.oprname as name from pg_catalog.pg_operator o
  join pg_catalog.pg_namespace n on n.oid = o.oprnamespace
where n.nspname not in ('pg_catalog', 'information_schema')`;

const SEARCH_PATH_SQL = `select pg_catalog.current_schemas(true)::text as path`;

/** `{pg_catalog,public,"my schema"}` → names. */
export function parseArrayLiteral(text: string): string[] {
  const inner = text.trim().replace(/^\{/, '').replace(/\}$/, '');
  const out: string[] = [];
  let i = 0;
  while (i < inner.length) {
    if (inner[i] === '"') {
      let s = '';
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === '\\') i++;
        s += inner[i] ?? '';
        i++;
      }
      out.push(s);
      i += 2; // closing quote and comma
    } else {
      const end = inner.indexOf(',', i);
      out.push(inner.slice(i, end < 0 ? inner.length : end));
      i = end < 0 ? inner.length : end + 1;
    }
  }
  return out.filter((s) => s.length > 0);
}

function need(row: Record<string, string | null>, key: string): string {
  const v = row[key];
  if (v === null || v === undefined) throw new Error(`catalog query returned no ${key}`);
  return v;
}

export async function loadSnapshot(query: CatalogQuery, options: { searchPath?: readonly string[] } = {}): Promise<CatalogSnapshot> {
  // One after another: the callback may sit on a single connection that cannot pipeline.
  const rels = await query(RELATIONS_SQL);
  const cols = await query(COLUMNS_SQL);
  const uniques = await query(UNIQUE_SQL);
  const funcs = await query(FUNCTIONS_SQL);
  const ops = await query(OPERATORS_SQL);
  const path = options.searchPath ? [] : await query(SEARCH_PATH_SQL);
  const columns = new Map<number, CatalogColumn[]>();
  for (const row of cols) {
    const relid = Number(need(row, 'relid'));
    let list = columns.get(relid);
    if (!list) columns.set(relid, (list = []));
    list.push({ attnum: Number(need(row, 'attnum')), name: need(row, 'name'), typeOid: Number(need(row, 'typid')) });
  }
  const unique = new Map<number, string[]>();
  for (const row of uniques) {
    const relid = Number(need(row, 'relid'));
    unique.set(relid, [...(unique.get(relid) ?? []), need(row, 'name')]);
  }
  const relations = rels.map((row): CatalogRelation => {
    const oid = Number(need(row, 'oid'));
    const rel: CatalogRelation = {
      oid, schema: need(row, 'schema'), name: need(row, 'name'), kind: KINDS[need(row, 'kind')] ?? 'table',
      columns: columns.get(oid) ?? [],
    };
    if (row['viewdef']) rel.viewDefinition = row['viewdef'];
    const u = unique.get(oid);
    if (u) rel.uniqueColumns = u;
    return rel;
  });
  const searchPath = options.searchPath ?? parseArrayLiteral(path[0]?.['path'] ?? '{pg_catalog,public}');
  return {
    relations, searchPath,
    userFunctions: funcs.map((r) => need(r, 'name')),
    userOperators: ops.map((r) => need(r, 'name')),
  };
}

export class Catalog {
  private byName = new Map<string, CatalogRelation>();
  private byOid = new Map<number, CatalogRelation>();
  private functions = new Set<string>();
  private operators = new Set<string>();
  private path: readonly string[] = [];
  /** bumped on every refresh, so callers can key caches on it */
  version = 0;

  constructor(snapshot: CatalogSnapshot, private readonly query?: CatalogQuery, private readonly pathOverride?: readonly string[]) {
    this.install(snapshot);
  }

  /** Load through `query`; `searchPath` overrides the one the gateway's connection reports. */
  static async load(query: CatalogQuery, options: { searchPath?: readonly string[] } = {}): Promise<Catalog> {
    return new Catalog(await loadSnapshot(query, options), query, options.searchPath);
  }

  private install(snapshot: CatalogSnapshot): void {
    this.byName = new Map(snapshot.relations.map((r) => [`${r.schema}.${r.name}`, r]));
    this.byOid = new Map(snapshot.relations.map((r) => [r.oid, r]));
    this.functions = new Set(snapshot.userFunctions.map((f) => f.toLowerCase()));
    this.operators = new Set(snapshot.userOperators);
    // PostgreSQL searches pg_catalog first unless the path names it somewhere else.
    this.path = snapshot.searchPath.includes('pg_catalog') ? snapshot.searchPath : ['pg_catalog', ...snapshot.searchPath];
    this.version++;
  }

  get searchPath(): readonly string[] {
    return this.path;
  }

  relations(): IterableIterator<CatalogRelation> {
    return this.byOid.values();
  }

  /** `[schema.]name` as PostgreSQL would resolve it with the catalog's search_path. */
  resolve(name: string, schema?: string): CatalogRelation | undefined {
    if (schema) return this.byName.get(`${schema}.${name}`);
    for (const s of this.path) {
      const r = this.byName.get(`${s}.${name}`);
      if (r) return r;
    }
    return undefined;
  }

  relationByOid(oid: number): CatalogRelation | undefined {
    return this.byOid.get(oid);
  }

  /** RowDescription origin → column; undefined for origin 0 (computed) or an oid not (yet) known. */
  origin(tableOid: number, attnum: number): ColumnOrigin | undefined {
    const relation = this.byOid.get(tableOid);
    const column = relation?.columns.find((c) => c.attnum === attnum);
    return relation && column ? { relation, column } : undefined;
  }

  /** origin(), reloading the catalog once when the oid is unknown (a relation created since load). */
  async originRefreshing(tableOid: number, attnum: number): Promise<ColumnOrigin | undefined> {
    if (tableOid === 0) return undefined;
    if (!this.byOid.has(tableOid)) await this.refresh();
    return this.origin(tableOid, attnum);
  }

  isUserFunction(name: string): boolean {
    const i = name.lastIndexOf('.');
    return this.functions.has((i < 0 ? name : name.slice(i + 1)).toLowerCase());
  }

  isUserOperator(symbol: string): boolean {
    return this.operators.has(symbol);
  }

  async refresh(): Promise<void> {
    if (!this.query) return;
    this.install(await loadSnapshot(this.query, this.pathOverride ? { searchPath: this.pathOverride } : {}));
  }
}
