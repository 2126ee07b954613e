/**
 * Per-target runtime state of the PostgreSQL gateway: how to reach the backend with the held
 * credential, and the catalog slice masking needs (cached per target, refreshed on unknown OIDs).
 */
import { PINNED_SETTINGS } from './lexing.ts';
import type { Located, Target } from '../../bundle/model.ts';
import type { Postgres } from '../../../schema/types.ts';
import { resolveSecret } from '../../gateway/secrets.ts';
import { connectBackend, simpleQuery, type BackendConnection, type ConnectBackendOptions } from './backend/connect.ts';
import { Catalog, type CatalogDrift, type CatalogMemory } from '../../sql/catalog.ts';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalJson } from '../../bundle/revision.ts';
import { PortcullisError } from '../../errors.ts';

/** Startup parameters an agent may pass through; anything else (e.g. `options=-c search_path=...`) is dropped. */
const passThroughParams = ['application_name', 'client_encoding', 'DateStyle', 'IntervalStyle', 'TimeZone', 'extra_float_digits'];

export function postgresSpec(target: Located<Target> | undefined, name: string): Postgres {
  if (!target) throw new PortcullisError('not_found', `no target named '${name}'`);
  const spec = target.doc.spec;
  if (spec.type !== 'postgres') {
    throw new PortcullisError('not_found', `target '${name}' is ${spec.type}, not postgres`, { details: { hint: 'connect with the target name of a postgres target as the database' } });
  }
  return spec as Postgres;
}

export async function backendOptions(name: string, spec: Postgres, clientParams: Map<string, string>, applicationName?: string, searchPath?: string): Promise<ConnectBackendOptions> {
  const startupParams: Record<string, string> = {};
  for (const p of passThroughParams) {
    const v = clientParams.get(p);
    if (v !== undefined) startupParams[p] = v;
  }
  startupParams.application_name = applicationName ?? `portcullis${startupParams.application_name ? `:${startupParams.application_name}` : ''}`.slice(0, 63);
  // Startup parameters override role and database defaults: the backend lexes as the gateway parses.
  Object.assign(startupParams, PINNED_SETTINGS);
  // Names resolve in the agent's session as in the gateway's catalog: a role or database default
  // changed later (ALTER ROLE ... SET search_path) cannot make a name mean another relation.
  if (searchPath !== undefined) startupParams.search_path = searchPath;
  // `disable` is passed on as itself: left out, the backend connection would default to `prefer`
  // and still send an SSLRequest the target's author turned off.
  const tls =
    spec.tls?.mode === 'disable'
      ? { mode: 'disable' as const }
      : spec.tls?.mode
        ? {
            mode: spec.tls.mode,
            ...(spec.tls.ca ? { ca: await resolveSecret(spec.tls.ca, `target ${name} tls.ca`) } : {}),
            ...(spec.tls.serverName ? { servername: spec.tls.serverName } : {}),
          }
        : undefined;
  return {
    host: spec.host,
    port: spec.port,
    database: spec.database,
    user: spec.user,
    ...(spec.password ? { password: await resolveSecret(spec.password, `target ${name} password`) } : {}),
    ...(tls ? { tls } : {}),
    startupParams,
    connectTimeoutMs: 10_000,
  };
}

interface CatalogEntry {
  key: string;
  catalog: Promise<Catalog>;
  connection?: BackendConnection;
  /** catalog queries run one at a time: the connection cannot interleave two */
  queue: Promise<unknown>;
}

export interface CatalogCacheOptions {
  /** where each target's column memory is kept across restarts (oid/attnum → names); none: memory only */
  stateDir?: string;
  log?(event: string, fields?: Record<string, unknown>): void;
  /** a tracked (classified) column is known by a new name: metric, evidence */
  drift?(target: string, drift: CatalogDrift): void;
}

/** One catalog (and one connection for its queries) per target and backend endpoint. */
export class CatalogCache {
  private readonly entries = new Map<string, CatalogEntry>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly options: CatalogCacheOptions = {}) {}

  private memoryFile(name: string): string | undefined {
    return this.options.stateDir ? join(this.options.stateDir, `${encodeURIComponent(name)}.json`) : undefined;
  }

  private async readMemory(name: string, key: string): Promise<CatalogMemory | undefined> {
    const file = this.memoryFile(name);
    if (!file) return undefined;
    try {
      const saved = JSON.parse(await readFile(file, 'utf8')) as { endpoint?: string; columns?: Record<string, string[]> };
      // oids belong to one database: memory of another endpoint says nothing about this one
      return saved.endpoint === key && saved.columns ? { columns: saved.columns } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log?.('postgres.catalog.memory-unreadable', { target: name, error: String(err) });
      return undefined;
    }
  }

  private saveMemory(name: string, key: string, memory: CatalogMemory): void {
    const file = this.memoryFile(name);
    if (!file) return;
    const text = JSON.stringify({ endpoint: key, columns: memory.columns }, null, 2);
    this.writes = this.writes
      .then(async () => {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(`${file}.tmp`, text, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      })
      .catch((err: unknown) => this.options.log?.('postgres.catalog.memory-unwritable', { target: name, error: String(err) }));
  }

  async get(name: string, spec: Postgres): Promise<Catalog> {
    const key = canonicalJson({ host: spec.host, port: spec.port, database: spec.database, user: spec.user });
    const hit = this.entries.get(name);
    if (hit && hit.key === key) return hit.catalog;
    if (hit) void hit.connection?.close().catch(() => {});
    const entry: CatalogEntry = { key, catalog: Promise.resolve(undefined as unknown as Catalog), queue: Promise.resolve() };
    let pinned: string | undefined;
    const connection = async (): Promise<BackendConnection> => {
      if (!entry.connection || entry.connection.socket.destroyed) {
        // Named apart from agent sessions (portcullis:<application_name>) in pg_stat_activity and
        // logs; after a reconnect it resolves names with the search_path it first had, like the
        // agent sessions pinned to it.
        const options = await backendOptions(name, spec, new Map(), 'portcullis-catalog');
        if (pinned !== undefined) options.startupParams = { ...options.startupParams, search_path: pinned };
        entry.connection = await connectBackend(options);
      }
      return entry.connection;
    };
    const run = async (sql: string) => {
      const conn = await connection();
      let r;
      try {
        r = await simpleQuery(conn, sql);
      } catch (err) {
        // The server answered with an error and is ready for the next query: the connection is
        // fine, and a new one would lose what this one prepared (the catalog's freshness checks).
        if (PortcullisError.is(err) && err.details.sqlstate !== undefined && !conn.socket.destroyed) throw err;
        // The connection was terminated while idle (pg_terminate_backend, a restart): its socket may
        // not look closed until this query ran into it. Catalog queries only read, so they are
        // retried once on a fresh connection; a second failure is real.
        if (entry.connection === conn) entry.connection = undefined;
        void conn.close().catch(() => {});
        r = await simpleQuery(await connection(), sql).catch((again: unknown) => {
          throw PortcullisError.is(again) ? again : PortcullisError.from(err);
        });
      }
      return r.rows.map((row) => Object.fromEntries(r.fields.map((f, i) => [f.name, row[i] ?? null])));
    };
    const query = (sql: string) => {
      const next = entry.queue.then(
        () => run(sql),
        () => run(sql),
      );
      entry.queue = next.catch(() => undefined);
      return next;
    };
    const log = this.options.log;
    entry.catalog = this.readMemory(name, key).then((memory) =>
      Catalog.load(query, {
        ...(memory ? { memory } : {}),
        hooks: {
          remember: (m) => this.saveMemory(name, key, m),
          drift: (d) => {
            log?.('postgres.catalog.drift', { target: name, oid: d.oid, attnum: d.attnum, was: d.was, now: d.now, masked: 'still masked under its former name' });
            this.options.drift?.(name, d);
          },
        },
      }),
    );
    entry.catalog.then(
      (c) => (pinned = c.searchPathSetting),
      () => undefined,
    );
    this.entries.set(name, entry);
    entry.catalog.catch(() => {
      // A failed load must not be cached: the next session tries again.
      if (this.entries.get(name) === entry) this.entries.delete(name);
    });
    return entry.catalog;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.entries.values()].map((e) => e.connection?.close()));
    this.entries.clear();
    await this.writes;
  }
}
