/** An empty database on the harness PostgreSQL to hold a test's evidence state (its own, so tests run in parallel). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgClient, pgInfo } from '../harness/postgres.ts';

export interface StateDatabase {
  name: string;
  url: string;
  /** cut every connection and refuse new ones: the state database is "down" */
  takeDown(): Promise<void>;
  bringUp(): Promise<void>;
  /** run SQL as superuser in the state database (to tamper with it) */
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

export async function createStateDatabase(): Promise<StateDatabase> {
  const info = pgInfo();
  const name = `state_${randomBytes(5).toString('hex')}`;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = await pgClient(info.database);
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = `postgresql://${info.user}:${encodeURIComponent(info.password)}@${info.host}:${info.port}/${name}`;
  return {
    name,
    url,
    async takeDown() {
      // ALLOW_CONNECTIONS false keeps out even the superuser, which the store connects as here.
      await admin(async (c) => {
        await c.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      });
    },
    async bringUp() {
      await admin((c) => c.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`));
    },
    async sql(text, values) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return await c.query(text, values);
      } finally {
        await c.end();
      }
    },
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
