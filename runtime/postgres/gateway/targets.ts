/**
 * Per-target runtime state of the PostgreSQL gateway: how to reach the backend with the held
 * credential, and the catalog slice masking needs (cached per target, refreshed on unknown OIDs).
 */
import { PINNED_SETTINGS } from './lexing.ts';
import type { Located, Target } from '../../bundle/model.ts';
import type { Postgres } from '../../../schema/types.ts';
import { resolveSecret } from '../../gateway/secrets.ts';
import { connectBackend, simpleQuery, type BackendConnection, type ConnectBackendOptions } from '../backend/connect.ts';
import { Catalog } from '../../sql/catalog.ts';
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

export async function backendOptions(name: string, spec: Postgres, clientParams: Map<string, string>, applicationName?: string): Promise<ConnectBackendOptions> {
  const startupParams: Record<string, string> = {};
  for (const p of passThroughParams) {
    const v = clientParams.get(p);
    if (v !== undefined) startupParams[p] = v;
  }
  startupParams.application_name = applicationName ?? `portcullis${startupParams.application_name ? `:${startupParams.application_name}` : ''}`.slice(0, 63);
  // Startup parameters override role and database defaults: the backend lexes as the gateway parses.
  Object.assign(startupParams, PINNED_SETTINGS);
  const tls = spec.tls?.mode && spec.tls.mode !== 'disable'
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
}

/** One catalog (and one connection for its queries) per target and backend endpoint. */
export class CatalogCache {
  private readonly entries = new Map<string, CatalogEntry>();

  async get(name: string, spec: Postgres): Promise<Catalog> {
    const key = canonicalJson({ host: spec.host, port: spec.port, database: spec.database, user: spec.user });
    const hit = this.entries.get(name);
    if (hit && hit.key === key) return hit.catalog;
    if (hit) void hit.connection?.close().catch(() => {});
    const entry: CatalogEntry = { key, catalog: Promise.resolve(undefined as unknown as Catalog) };
    const connection = async (): Promise<BackendConnection> => {
      if (!entry.connection || entry.connection.socket.destroyed) {
        // Named apart from agent sessions (portcullis:<application_name>) in pg_stat_activity and logs.
        entry.connection = await connectBackend(await backendOptions(name, spec, new Map(), 'portcullis-catalog'));
      }
      return entry.connection;
    };
    const query = async (sql: string) => {
      const conn = await connection();
      let r;
      try {
        r = await simpleQuery(conn, sql);
      } catch (err) {
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
    entry.catalog = Catalog.load(query);
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
  }
}
