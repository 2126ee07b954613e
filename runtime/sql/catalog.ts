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
  /** the catalog fingerprint read before the snapshot (see FINGERPRINT_SQL); a change means reload */
  fingerprint?: string;
  /** the query that reads the fingerprint: EPOCH_SQL where the DBA installed the event trigger */
  fingerprintSql?: string;
  /** the connection's `search_path` setting as written (`"$user", public`), pinned into agent sessions */
  searchPathSetting?: string;
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

const SEARCH_PATH_SQL = `select pg_catalog.current_schemas(true)::text as path, pg_catalog.current_setting('search_path') as setting`;

/**
 * One cheap query whose answer changes whenever anything the snapshot holds may have changed: every
 * DDL writes new row versions (a new xmin) into these catalogs or deletes rows from them, so the
 * count and the sum of xmins of the user part of each moves. Only user objects (oid >= 16384, the
 * first oid PostgreSQL gives a user object) are read, through the catalogs' oid indexes, so its cost
 * grows with the user schema, not with the system catalogs. The effective search path is part of it:
 * creating the schema "$user" names changes name resolution without touching a user relation.
 */
export const FINGERPRINT_SQL = `select concat_ws('/',
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_class where oid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_attribute where attrelid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_namespace where oid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_rewrite where oid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_proc where oid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_operator where oid >= 16384),
  (select count(*) || ':' || coalesce(sum(xmin::text::int8), 0) from pg_catalog.pg_index where indexrelid >= 16384),
  pg_catalog.current_schemas(true)::text) as fingerprint`;

/**
 * Where a DBA installed the event trigger of docs/postgres-gateway.md, every DDL bumps a one-row
 * table in the same transaction, and reading it is the whole check. The row's xmin is part of the
 * answer (an UPDATE that puts an old number back still moves it), and so is the trigger's own row:
 * disabled or dropped, the fingerprint changes and the next load falls back to FINGERPRINT_SQL.
 */
export const EPOCH_SQL = `select concat_ws('/', e.n, e.xmin,
  (select string_agg(t.evtname::text || t.evtenabled::text || t.xmin::text, ',' order by t.evtname) from pg_catalog.pg_event_trigger t where t.evtname like 'portcullis\_%'),
  pg_catalog.current_schemas(true)::text) as fingerprint from portcullis.catalog_epoch e`;

/**
 * Before the fingerprint scan, one O(1) probe: the current snapshot (xmin:xmax:in-progress xids)
 * changes with every commit anywhere in the cluster, and a DDL is a commit. While it stays the same,
 * nothing was committed since the last full check, so nothing in the catalog changed.
 */
export const PROBE_SQL = `select pg_catalog.pg_current_snapshot()::text || '/' || pg_catalog.current_schemas(true)::text as fingerprint`;

// CASE, not AND: has_table_privilege raises on a table that does not exist
const EPOCH_INSTALLED_SQL = `select (case when pg_catalog.to_regclass('portcullis.catalog_epoch') is null then false
  else pg_catalog.has_table_privilege('portcullis.catalog_epoch', 'select')
    and (select count(*) from pg_catalog.pg_event_trigger where evtname in ('portcullis_catalog_changed', 'portcullis_catalog_dropped') and evtenabled <> 'D') = 2
  end)::text as installed`;

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
  // One after another: the callback may sit on a single connection that cannot pipeline. The
  // fingerprint comes first: a change committed while the rest loads makes the next check reload.
  const epoch = (await query(EPOCH_INSTALLED_SQL))[0]?.['installed'] === 'true';
  const fingerprintSql = epoch ? EPOCH_SQL : FINGERPRINT_SQL;
  const fingerprint = (await query(fingerprintSql))[0]?.['fingerprint'] ?? undefined;
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
      oid,
      schema: need(row, 'schema'),
      name: need(row, 'name'),
      kind: KINDS[need(row, 'kind')] ?? 'table',
      columns: columns.get(oid) ?? [],
    };
    if (row['viewdef']) rel.viewDefinition = row['viewdef'];
    const u = unique.get(oid);
    if (u) rel.uniqueColumns = u;
    return rel;
  });
  const searchPath = options.searchPath ?? parseArrayLiteral(path[0]?.['path'] ?? '{pg_catalog,public}');
  const setting = path[0]?.['setting'];
  return {
    relations,
    searchPath,
    ...(fingerprint ? { fingerprint } : {}),
    fingerprintSql,
    ...(setting ? { searchPathSetting: setting } : {}),
    userFunctions: funcs.map((r) => need(r, 'name')),
    userOperators: ops.map((r) => need(r, 'name')),
  };
}

/** `schema.table.column`: a name a column had, kept so a mask on that name follows the column. */
export type QualifiedColumn = string;

/** What the catalog remembers about columns across renames and restarts. */
export interface CatalogMemory {
  /** `oid:attnum` → every qualified name the column was seen under while classified or renamed */
  columns: Record<string, QualifiedColumn[]>;
}

/** A tracked column that now goes by another name than the ones it was seen under. */
export interface CatalogDrift {
  oid: number;
  attnum: number;
  was: QualifiedColumn[];
  now: QualifiedColumn;
}

export interface CatalogHooks {
  /** the memory changed (a rename seen, a classified column tracked): persist it */
  remember?(memory: CatalogMemory): void;
  /** a tracked column is known by a new name */
  drift?(drift: CatalogDrift): void;
}

function qualified(rel: CatalogRelation, column: string): QualifiedColumn {
  return `${rel.schema}.${rel.name}.${column}`;
}

export class Catalog {
  private byName = new Map<string, CatalogRelation>();
  private byOid = new Map<number, CatalogRelation>();
  private functions = new Set<string>();
  private operators = new Set<string>();
  private path: readonly string[] = [];
  private fingerprint: string | undefined;
  private fingerprintSql = FINGERPRINT_SQL;
  /** PROBE_SQL's answer read before the last fingerprint that matched */
  private probe: string | undefined;
  /** `oid:attnum` → former (and tracked) names: classifications follow the data, not the name */
  private readonly former = new Map<string, QualifiedColumn[]>();
  /** drift already reported, so a log line is written once per new name */
  private readonly reported = new Set<string>();
  private checking: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** the search_path setting of the first load, pinned for the catalog's whole life */
  readonly searchPathSetting: string | undefined;
  hooks: CatalogHooks = {};
  /** bumped on every refresh, so callers can key caches on it */
  version = 0;

  constructor(
    snapshot: CatalogSnapshot,
    private readonly query?: CatalogQuery,
    private readonly pathOverride?: readonly string[],
    memory?: CatalogMemory,
  ) {
    for (const [key, names] of Object.entries(memory?.columns ?? {})) this.former.set(key, [...names]);
    this.searchPathSetting = snapshot.searchPathSetting;
    this.install(snapshot);
  }

  /** Load through `query`; `searchPath` overrides the one the gateway's connection reports. */
  static async load(query: CatalogQuery, options: { searchPath?: readonly string[]; memory?: CatalogMemory; hooks?: CatalogHooks } = {}): Promise<Catalog> {
    const snapshot = await loadSnapshot(query, options.searchPath ? { searchPath: options.searchPath } : {});
    const catalog = new Catalog({ ...snapshot, relations: [] }, query, options.searchPath, options.memory);
    if (options.hooks) catalog.hooks = options.hooks;
    // installed after the hooks are set, so drift found against remembered names is reported
    catalog.install(snapshot);
    return catalog;
  }

  private install(snapshot: CatalogSnapshot): void {
    const previous = this.byOid;
    this.byName = new Map(snapshot.relations.map((r) => [`${r.schema}.${r.name}`, r]));
    this.byOid = new Map(snapshot.relations.map((r) => [r.oid, r]));
    this.functions = new Set(snapshot.userFunctions.map((f) => f.toLowerCase()));
    this.operators = new Set(snapshot.userOperators);
    // PostgreSQL searches pg_catalog first unless the path names it somewhere else.
    this.path = snapshot.searchPath.includes('pg_catalog') ? snapshot.searchPath : ['pg_catalog', ...snapshot.searchPath];
    this.fingerprint = snapshot.fingerprint;
    if (snapshot.fingerprintSql) this.fingerprintSql = snapshot.fingerprintSql;
    this.followRenames(previous);
    this.version++;
  }

  /**
   * A column keeps its relation oid and attnum through RENAME COLUMN, ALTER TABLE RENAME and SET
   * SCHEMA: every name it had is kept, so a mask that matched an old name still matches it.
   */
  private followRenames(previous: ReadonlyMap<number, CatalogRelation>): void {
    let changed = false;
    for (const rel of this.byOid.values()) {
      const old = previous.get(rel.oid);
      for (const c of rel.columns) {
        const key = `${rel.oid}:${c.attnum}`;
        const now = qualified(rel, c.name);
        const oldColumn = old?.columns.find((x) => x.attnum === c.attnum);
        let names = this.former.get(key);
        if (old && oldColumn) {
          const was = qualified(old, oldColumn.name);
          if (was !== now && !names?.includes(was)) {
            this.former.set(key, (names = [...(names ?? []), was]));
            changed = true;
          }
        }
        if (names && !names.includes(now) && !this.reported.has(`${key}:${now}`)) {
          this.reported.add(`${key}:${now}`);
          this.hooks.drift?.({ oid: rel.oid, attnum: c.attnum, was: names, now });
        }
      }
    }
    if (changed) this.hooks.remember?.(this.memory());
  }

  /** Names the column at `oid:attnum` had before (renames seen, or remembered from a previous run). */
  formerNames(oid: number, attnum: number): readonly QualifiedColumn[] | undefined {
    return this.former.get(`${oid}:${attnum}`);
  }

  /**
   * Remember the current names of the columns `classified` picks (the masks in force), so a rename
   * made while the gateway is down still finds them on the next start.
   */
  track(classified: (rel: CatalogRelation, column: CatalogColumn) => boolean): void {
    let changed = false;
    for (const rel of this.byOid.values()) {
      if (rel.schema === 'pg_catalog' || rel.schema === 'information_schema') continue;
      for (const c of rel.columns) {
        const key = `${rel.oid}:${c.attnum}`;
        const now = qualified(rel, c.name);
        const names = this.former.get(key);
        if (names?.includes(now) || !classified(rel, c)) continue;
        this.former.set(key, [...(names ?? []), now]);
        changed = true;
      }
    }
    if (changed) this.hooks.remember?.(this.memory());
  }

  memory(): CatalogMemory {
    return { columns: Object.fromEntries([...this.former].sort(([a], [b]) => a.localeCompare(b))) };
  }

  /**
   * Make the catalog current for a statement that arrived before this call: run the fingerprint
   * query (one round trip on the catalog's connection) and reload when it changed. Calls made while
   * a check runs share the next one, never the running one, which may have read the catalog before
   * the change the caller must see. Rejects when the backend cannot be asked: the caller then
   * refuses (fail closed).
   */
  ensureFresh(): Promise<void> {
    if (!this.query) return Promise.resolve();
    if (this.queued) return this.queued;
    if (!this.checking) {
      const run = this.check().finally(() => {
        if (this.checking === run) this.checking = undefined;
      });
      this.checking = run;
      return run;
    }
    const queued = this.checking
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.ensureFresh();
      });
    this.queued = queued;
    return queued;
  }

  private async check(): Promise<void> {
    const scanning = this.fingerprintSql === FINGERPRINT_SQL;
    const probe = scanning ? ((await this.run('portcullis_probe', PROBE_SQL).catch(() => []))[0]?.['fingerprint'] ?? undefined) : undefined;
    if (probe !== undefined && probe === this.probe && this.fingerprint !== undefined) return;
    this.probe = undefined;
    const row = (await this.run(scanning ? 'portcullis_fingerprint' : 'portcullis_epoch', this.fingerprintSql).catch(() => []))[0];
    const now = row?.['fingerprint'] ?? undefined;
    if (now === undefined || now !== this.fingerprint) await this.refresh();
    // read before the fingerprint: a commit after it changes the next probe
    this.probe = probe;
  }

  /**
   * The fingerprint query, prepared once per connection: planning its subqueries costs several
   * times what running them does, and this runs before statements.
   */
  private async run(name: string, sql: string): Promise<Array<Record<string, string | null>>> {
    try {
      return await this.query!(`execute ${name}`);
    } catch {
      // first use on this connection (or a new one after a reconnect)
      await this.query!(`deallocate ${name}`).catch(() => undefined);
      await this.query!(`prepare ${name} as ${sql}`);
      return this.query!(`execute ${name}`);
    }
  }

  /**
   * What a statement's own backend connection can check, in the same round trip as the statement,
   * to prove this catalog is still current (see gateway/catalog-guard.ts): the query, and the answer
   * it gives while nothing changed. Undefined while no check has vouched for the catalog yet (just
   * invalidated, or the probe could not be read): the caller checks on the catalog connection.
   */
  guardCheck(): { mode: 'probe' | 'epoch'; sql: string; expected: string } | undefined {
    if (!this.query || this.fingerprint === undefined) return undefined;
    if (this.fingerprintSql === EPOCH_SQL) return { mode: 'epoch', sql: EPOCH_SQL, expected: this.fingerprint };
    return this.probe === undefined ? undefined : { mode: 'probe', sql: PROBE_SQL, expected: this.probe };
  }

  /** how the catalog checks it is current: 'event-trigger' (one row read) or 'fingerprint' (a scan of user catalog rows) */
  get freshnessMode(): 'event-trigger' | 'fingerprint' {
    return this.fingerprintSql === EPOCH_SQL ? 'event-trigger' : 'fingerprint';
  }

  /** Forget the fingerprint: the next ensureFresh reloads (DDL went through a gateway session). */
  invalidate(): void {
    this.fingerprint = undefined;
    this.probe = undefined;
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
