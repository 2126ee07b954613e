/**
 * The cost of "no decision on stale knowledge" for PostgreSQL: before a statement on a target with
 * masked columns is decided, the gateway runs one fingerprint query on its catalog connection (see
 * runtime/sql/catalog.ts). This measures that check alone, through the gateway's own backend
 * connection code, on a throwaway PostgreSQL with a small and a large user schema: µs per check,
 * one check at a time (the worst case: concurrent statements share one check). The gateway runs
 * the check as a prepared statement, as here.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startLocalPostgres } from '../runtime/embedded/postgres.ts';
import { connectBackend, simpleQuery, type BackendConnection } from '../runtime/protocols/postgres/backend/connect.ts';
import { EPOCH_SQL, FINGERPRINT_SQL, PROBE_SQL } from '../runtime/sql/catalog.ts';
import { EVENT_TRIGGER_SQL } from '../runtime/sql/event-trigger.ts';
import { fmt, median, progress, table } from './report.ts';

export interface FreshnessRow {
  tables: number;
  columns: number;
  mode: 'probe: nothing committed since' | 'fingerprint: after a commit' | 'event trigger';
  /** median µs of one check, round trip included */
  microsPerCheck: number;
  p99Micros: number;
  /** median µs of `select 1` on the same connection: the round trip alone */
  roundTripMicros: number;
}

export interface FreshnessResult {
  checks: number;
  rows: FreshnessRow[];
}

const SIZES = [20, 1000];

export async function runFreshnessBench(opts: { checks?: number } = {}): Promise<FreshnessResult> {
  const checks = opts.checks ?? 2000;
  const scratch = await mkdtemp(join(tmpdir(), 'pc-bench-fresh-'));
  await chmod(scratch, 0o711);
  const password = randomBytes(18).toString('base64url');
  progress('freshness: starting a throwaway PostgreSQL');
  const server = await startLocalPostgres({ dataDir: join(scratch, 'data'), password, persistent: false, testRoles: false });
  const rows: FreshnessRow[] = [];
  try {
    const conn = await connectBackend({ host: '127.0.0.1', port: server.port, user: server.user, password, database: 'postgres', startupParams: {}, connectTimeoutMs: 10_000 });
    try {
      let made = 0;
      for (const tables of SIZES) {
        progress(`freshness: ${tables} tables of 8 columns`);
        for (; made < tables; made++) {
          await simpleQuery(conn, `create table t${made} (id int primary key, a text, b text, c int, d date, e numeric, f text unique, g bool)`);
        }
        await simpleQuery(conn, 'vacuum analyze');
        await simpleQuery(conn, `deallocate all`);
        await simpleQuery(conn, `prepare probe as ${PROBE_SQL}`);
        await simpleQuery(conn, `prepare fp as ${FINGERPRINT_SQL}`);
        rows.push(await measure(conn, tables, 'probe: nothing committed since', 'execute probe', checks));
        // the worst case: something committed before every statement, so the probe and the scan run
        rows.push(await measure(conn, tables, 'fingerprint: after a commit', 'execute probe; execute fp', Math.min(checks, 500)));
      }
      progress('freshness: with the event trigger installed');
      await simpleQuery(conn, EVENT_TRIGGER_SQL.replaceAll(':gateway_role', server.user));
      await simpleQuery(conn, `prepare epoch as ${EPOCH_SQL}`);
      rows.push(await measure(conn, made, 'event trigger', 'execute epoch', checks));
    } finally {
      await conn.close();
    }
  } finally {
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  return { checks, rows };
}

async function timings(conn: BackendConnection, sql: string, n: number): Promise<number[]> {
  for (let i = 0; i < 200; i++) await simpleQuery(conn, sql); // warm caches and plans
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await simpleQuery(conn, sql);
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return times.sort((a, b) => a - b);
}

async function measure(conn: BackendConnection, tables: number, mode: FreshnessRow['mode'], sql: string, n: number): Promise<FreshnessRow> {
  const base = await timings(conn, 'select 1', n);
  const times = await timings(conn, sql, n);
  return { tables, columns: tables * 8, mode, microsPerCheck: median(times), p99Micros: times[Math.floor(times.length * 0.99)] ?? NaN, roundTripMicros: median(base) };
}

export function formatFreshness(r: FreshnessResult): string {
  return [
    `catalog freshness check before each statement on a target with masked columns (${r.checks} sequential checks, 500 for the scan; median and p99)`,
    table(
      ['mode', 'user tables', 'user columns', 'µs/stmt (median)', 'µs/stmt (p99)', 'of which round trip (select 1)'],
      r.rows.map((x) => [x.mode, fmt(x.tables), fmt(x.columns), fmt(x.microsPerCheck), fmt(x.p99Micros), fmt(x.roundTripMicros)]),
    ),
  ].join('\n');
}
