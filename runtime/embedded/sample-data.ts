/** Loads the sample `shop` database (customers with PII, orders, products) into a local server. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PortcullisError } from '../errors.ts';

export const SAMPLE_DATABASE = 'shop';
const SQL_FILE = fileURLToPath(new URL('./sample-data.sql', import.meta.url));

interface Reachable {
  socketDir: string;
  port: number;
  user: string;
  testRoles?: boolean;
}

function client(pgInfo: Reachable, database: string): pg.Client {
  return new pg.Client({ host: pgInfo.socketDir, port: pgInfo.port, user: pgInfo.user, database });
}

/** Creates and fills `shop` unless it already holds the tables; safe to call on every start. */
export async function loadSampleData(pgInfo: Reachable, database = SAMPLE_DATABASE): Promise<void> {
  const admin = client(pgInfo, 'postgres');
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!exists.rowCount) await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  const db = client(pgInfo, database);
  await db.connect();
  try {
    const loaded = await db.query(`SELECT to_regclass('public.customers') IS NOT NULL AS present`);
    if (loaded.rows[0]?.present) return;
    const sql = await readFile(SQL_FILE, 'utf8');
    await db.query('BEGIN');
    await db.query(sql);
    if (pgInfo.testRoles) {
      await db.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO md5_user, trust_user, plain_user');
    }
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw new PortcullisError('failed_precondition', `loading the sample data into ${database} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await db.end();
  }
}
