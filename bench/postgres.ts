/**
 * `pgbench -S` through three paths in the same run: straight to PostgreSQL, through PgBouncer and
 * through the Portcullis gateway (policy, masking and recording on). Runs are interleaved and
 * repeated, and the median kept, so a burst of load elsewhere on the machine does not land on a
 * single column.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../runtime/embedded/postgres.ts';
import { startPgbouncer, type Bouncer } from './pgbouncer.ts';
import { startBenchGateway, TARGET, type BenchGateway, type GatewayStats } from './gateway.ts';
import { pgbenchSelect, pgEnv, runTool, type Endpoint, type PgbenchMode, type PgbenchResult } from './pgbench.ts';
import { fmt, median, progress, table } from './report.ts';

export const paths = ['direct', 'pgbouncer', 'gateway'] as const;
export type Path = (typeof paths)[number];
const modes: PgbenchMode[] = ['simple', 'extended', 'prepared'];
const DATABASE = 'bench';
const ROLE = 'bench_gateway';

export interface PostgresOptions {
  seconds: number;
  repeats: number;
  clients: number;
  threads: number;
  scale: number;
  /** write the gateway's CPU profile (node --cpu-prof) into this folder */
  profileDir?: string;
}

export interface ModeRow {
  mode: PgbenchMode;
  tps: Record<Path, number>;
  latencyMs: Record<Path, number>;
  runs: Record<Path, PgbenchResult[]>;
  gatewayVsDirect: number;
  gatewayVsPgbouncer: number;
  pgbouncerVsDirect: number;
  /** µs per statement the gateway adds, from pgbench's average latency */
  addedMicrosVsDirect: number;
  addedMicrosVsPgbouncer: number;
}

export interface PostgresResult {
  clients: number;
  threads: number;
  seconds: number;
  repeats: number;
  scale: number;
  postgresVersion: number;
  pgbouncerInstalled: boolean;
  rows: ModeRow[];
  gateway?: GatewayStats;
  profile?: string;
}

/** The database pgbench fills, and the login the gateway holds (it may only read). */
async function prepareDatabase(server: LocalPostgres, scale: number, gatewayPassword: string): Promise<void> {
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD ${pg.escapeLiteral(gatewayPassword)}`);
  await admin.end();
  progress(`postgres: pgbench -i -s ${scale}`);
  await runTool('pgbench', ['-i', '-q', '-s', String(scale)], pgEnv({ host: '127.0.0.1', port: server.port, user: server.user, database: DATABASE, password: server.password }));
  const db = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: DATABASE });
  await db.connect();
  await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${ROLE}`);
  await db.query('VACUUM ANALYZE');
  await db.end();
}

export async function runPostgresBench(opts: PostgresOptions): Promise<PostgresResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'pc-bench-pg-'));
  // As root, PostgreSQL runs as another account, which must traverse (not list) this folder.
  await chmod(scratch, 0o711);
  const gatewayPassword = randomBytes(18).toString('base64url');
  const stops: (() => Promise<unknown>)[] = [];
  let gatewayResult: { stats?: GatewayStats } = {};
  try {
    progress('postgres: starting a throwaway PostgreSQL');
    const server = await startLocalPostgres({ dataDir: join(scratch, 'data'), password: randomBytes(18).toString('base64url'), persistent: false, testRoles: false });
    stops.push(() => server.stop());
    await prepareDatabase(server, opts.scale, gatewayPassword);

    progress('postgres: starting PgBouncer (session mode)');
    const bouncer: Bouncer = await startPgbouncer({ port: server.port, database: DATABASE, user: server.user, password: server.password }, progress);
    stops.push(() => bouncer.stop());

    progress('postgres: starting the gateway');
    const gateway: BenchGateway = await startBenchGateway({ port: server.port, database: DATABASE, user: ROLE, password: gatewayPassword }, opts.profileDir ? { profileDir: opts.profileDir } : {});
    let gatewayStopped = false;
    const stopGateway = async () => {
      if (gatewayStopped) return;
      gatewayStopped = true;
      gatewayResult = await gateway.stop();
    };
    stops.push(stopGateway);

    const endpoints: Record<Path, Endpoint> = {
      direct: { host: '127.0.0.1', port: server.port, user: server.user, database: DATABASE, password: server.password },
      pgbouncer: { host: '127.0.0.1', port: bouncer.port, user: server.user, database: DATABASE, password: server.password },
      gateway: { host: '127.0.0.1', port: gateway.port, user: 'agent', database: TARGET, password: gateway.token },
    };
    const load = { clients: opts.clients, threads: opts.threads, seconds: opts.seconds };
    // A short run through every path first: connections, caches and JIT settle before timing counts.
    for (const p of paths) await pgbenchSelect(endpoints[p], 'simple', { ...load, seconds: 1 });

    const runs = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(paths.map((p) => [p, [] as PgbenchResult[]]))])) as Record<PgbenchMode, Record<Path, PgbenchResult[]>>;
    for (let r = 1; r <= opts.repeats; r++) {
      for (const mode of modes) {
        // Rotate which path goes first so none always runs on the freshest (or most tired) machine.
        const order = paths.map((_, i) => paths[(i + r - 1) % paths.length]!);
        for (const p of order) {
          progress(`postgres: round ${r}/${opts.repeats}, ${mode}, ${p} (${opts.seconds}s)`);
          runs[mode][p].push(await pgbenchSelect(endpoints[p], mode, load));
        }
      }
    }
    await stopGateway();

    const rows = modes.map((mode): ModeRow => {
      const tps = Object.fromEntries(paths.map((p) => [p, median(runs[mode][p].map((x) => x.tps))])) as Record<Path, number>;
      const latencyMs = Object.fromEntries(paths.map((p) => [p, median(runs[mode][p].map((x) => x.latencyMs))])) as Record<Path, number>;
      return {
        mode,
        tps,
        latencyMs,
        runs: runs[mode],
        gatewayVsDirect: tps.gateway / tps.direct,
        gatewayVsPgbouncer: tps.gateway / tps.pgbouncer,
        pgbouncerVsDirect: tps.pgbouncer / tps.direct,
        addedMicrosVsDirect: (latencyMs.gateway - latencyMs.direct) * 1000,
        addedMicrosVsPgbouncer: (latencyMs.gateway - latencyMs.pgbouncer) * 1000,
      };
    });
    return {
      ...load,
      repeats: opts.repeats,
      scale: opts.scale,
      postgresVersion: server.majorVersion,
      pgbouncerInstalled: bouncer.installed,
      rows,
      ...(gatewayResult.stats ? { gateway: gatewayResult.stats } : {}),
      ...(opts.profileDir ? { profile: opts.profileDir } : {}),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}

export function formatPostgres(r: PostgresResult): string {
  const rows = r.rows.map((x) => [
    x.mode,
    fmt(x.tps.direct),
    fmt(x.tps.pgbouncer),
    fmt(x.tps.gateway),
    `${x.gatewayVsDirect.toFixed(2)}x`,
    `${x.gatewayVsPgbouncer.toFixed(2)}x`,
    `${x.pgbouncerVsDirect.toFixed(2)}x`,
    fmt(x.addedMicrosVsDirect),
    fmt(x.addedMicrosVsPgbouncer),
  ]);
  const out = [
    `pgbench -S (select-only), ${r.clients} clients, ${r.threads} threads, ${r.seconds}s a run, median of ${r.repeats} interleaved runs, scale ${r.scale}, PostgreSQL ${r.postgresVersion}`,
    table(['mode', 'TPS direct', 'TPS PgBouncer', 'TPS gateway', 'gw/direct', 'gw/PgBouncer', 'PgB/direct', '+µs/stmt vs direct', '+µs/stmt vs PgB'], rows),
  ];
  if (r.pgbouncerInstalled) out.push('', 'PgBouncer was not on PATH: the bench installed the Debian package.');
  if (r.gateway) {
    const w = r.gateway.evidenceWaitMs;
    out.push('', `gateway: ${fmt(r.gateway.decisions)} decisions recorded; wait for the durable evidence record per statement: mean ${(w.mean * 1000).toFixed(0)} µs, p50 ${(w.p50 * 1000).toFixed(0)} µs, p90 ${(w.p90 * 1000).toFixed(0)} µs, p99 ${(w.p99 * 1000).toFixed(0)} µs`);
  }
  if (r.profile) out.push(`gateway CPU profile written to ${r.profile}`);
  return out.join('\n');
}
