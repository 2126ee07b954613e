/** Test helpers around the shared PostgreSQL started by the global setup. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { freeTcpPort } from '../../runtime/embedded/postgres.ts';
import type { HarnessPostgres } from './context.ts';
import './context.ts';

export type { HarnessPostgres } from './context.ts';

export function pgInfo(): HarnessPostgres {
  const info = inject('pg');
  if (!info) throw new Error('no test PostgreSQL: run tests through vitest.config.ts, whose globalSetup starts it');
  return info;
}

/** A TCP port nothing listens on right now (e.g. for a gateway under test, or an "unreachable" backend). */
export const freePort = freeTcpPort;

/** A connected superuser client (pg) on `database` (default: the sample `shop`); end() it when done. */
export async function pgClient(database?: string): Promise<pg.Client> {
  const info = pgInfo();
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    database: database ?? info.sampleDatabase,
  });
  await client.connect();
  return client;
}

/**
 * A private writable copy of the sample data for tests that modify it; tests run in parallel and
 * must not write to the shared `shop`. Returns its name and a function that drops it.
 */
export async function createScratchDatabase(prefix = 'scratch'): Promise<{ name: string; drop: () => Promise<void> }> {
  const info = pgInfo();
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = await pgClient(info.database);
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(info.templateDatabase)} STRATEGY FILE_COPY`);
  } finally {
    await admin.end();
  }
  return {
    name,
    drop: async () => {
      const c = await pgClient(info.database);
      try {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
