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
import { startPassthrough } from './passthrough.ts';
import { startBenchGateway, TARGET, type BenchGateway, type GatewayStats, type Spread } from './gateway.ts';
import { pgbenchSelect, pgEnv, runTool, type Endpoint, type PgbenchMode, type PgbenchResult } from './pgbench.ts';
import { fmt, median, progress, table } from './report.ts';
import { formatProfile, latestProfile, summarise, type ProfileSummary } from './profile.ts';
import { readFile } from 'node:fs/promises';

export const paths = ['direct', 'pgbouncer', 'gateway', 'gateway-write', 'gateway-nofsync', 'passthrough'] as const;
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
  /** also run a second gateway whose evidence store skips fdatasync: separates CPU from durability wait */
  diagnose?: boolean;
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
  /** the gateway's own counters during this mode's last run */
  gateway?: GatewayStats;
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
  profile?: { file: string; statements: number; summary: ProfileSummary };
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
    // BENCH_PROFILE_DURABILITY=write profiles the --evidence-durability write gateway instead (CPU-bound, no fsync wait).
    const profileWrite = process.env.BENCH_PROFILE_DURABILITY === 'write';
    const gateway: BenchGateway = await startBenchGateway(
      { port: server.port, database: DATABASE, user: ROLE, password: gatewayPassword },
      opts.profileDir && !profileWrite ? { profileDir: opts.profileDir } : {},
    );
    let gatewayStopped = false;
    const stopGateway = async () => {
      if (gatewayStopped) return;
      gatewayStopped = true;
      gatewayResult = await gateway.stop();
    };
    stops.push(stopGateway);

    progress('postgres: starting a second gateway with --evidence-durability write');
    const writeMode = await startBenchGateway(
      { port: server.port, database: DATABASE, user: ROLE, password: gatewayPassword },
      { durability: 'write', ...(opts.profileDir && profileWrite ? { profileDir: opts.profileDir } : {}) },
    );
    let writeStopped = false;
    const stopWrite = async () => {
      if (writeStopped) return;
      writeStopped = true;
      await writeMode.stop();
    };
    stops.push(stopWrite);
    const active: Path[] = ['direct', 'pgbouncer', 'gateway', 'gateway-write'];
    const endpoints: Partial<Record<Path, Endpoint>> = {
      direct: { host: '127.0.0.1', port: server.port, user: server.user, database: DATABASE, password: server.password },
      pgbouncer: { host: '127.0.0.1', port: bouncer.port, user: server.user, database: DATABASE, password: server.password },
      gateway: { host: '127.0.0.1', port: gateway.port, user: 'agent', database: TARGET, password: gateway.token },
      'gateway-write': { host: '127.0.0.1', port: writeMode.port, user: 'agent', database: TARGET, password: writeMode.token },
    };
    if (opts.diagnose) {
      progress('postgres: starting a diagnostic gateway without fdatasync');
      const nofsync = await startBenchGateway({ port: server.port, database: DATABASE, user: ROLE, password: gatewayPassword }, { skipFsync: true });
      stops.push(() => nofsync.stop());
      endpoints['gateway-nofsync'] = { host: '127.0.0.1', port: nofsync.port, user: 'agent', database: TARGET, password: nofsync.token };
      active.push('gateway-nofsync');
      progress('postgres: starting a bare Node.js passthrough (the hop without the gateway)');
      const passthrough = await startPassthrough(server.port);
      stops.push(() => passthrough.stop());
      endpoints.passthrough = { host: '127.0.0.1', port: passthrough.port, user: server.user, database: DATABASE, password: server.password };
      active.push('passthrough');
    }
    const load = { clients: opts.clients, threads: opts.threads, seconds: opts.seconds };
    // A short run through every path first: connections, caches and JIT settle before timing counts.
    // On a loaded machine, opening 8 sessions can take the whole second: a warm-up may finish with
    // no transaction, which is fine; a path that cannot run at all fails in the timed runs.
    for (const p of active) await pgbenchSelect(endpoints[p]!, 'simple', { ...load, seconds: 2 }).catch(() => undefined);
    let statements = (await gateway.snapshot()).decisions;
    const gatewayStats: Partial<Record<PgbenchMode, GatewayStats>> = {};

    const runs = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(paths.map((p) => [p, [] as PgbenchResult[]]))])) as Record<PgbenchMode, Record<Path, PgbenchResult[]>>;
    for (let r = 1; r <= opts.repeats; r++) {
      for (const mode of modes) {
        // Rotate which path goes first so none always runs on the freshest (or most tired) machine.
        const order = active.map((_, i) => active[(i + r - 1) % active.length]!);
        for (const p of order) {
          progress(`postgres: round ${r}/${opts.repeats}, ${mode}, ${p} (${opts.seconds}s)`);
          runs[mode][p].push(await pgbenchSelect(endpoints[p]!, mode, load));
          if (p === 'gateway') {
            gatewayStats[mode] = await gateway.snapshot();
            statements += gatewayStats[mode].decisions;
          }
        }
      }
    }
    await stopGateway();
    if (profileWrite) await stopWrite();
    statements += gatewayResult.stats?.decisions ?? 0;
    let profile: PostgresResult['profile'];
    const file = opts.profileDir ? await latestProfile(opts.profileDir) : undefined;
    if (file) profile = { file, statements, summary: summarise(JSON.parse(await readFile(file, 'utf8'))) };

    const rows = modes.map((mode): ModeRow => {
      // A path that did not run has no runs: its median is NaN and prints as '-'.
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
        ...(gatewayStats[mode] ? { gateway: gatewayStats[mode] } : {}),
      };
    });
    return {
      ...load,
      repeats: opts.repeats,
      scale: opts.scale,
      postgresVersion: server.majorVersion,
      pgbouncerInstalled: bouncer.installed,
      rows,
      ...(profile ? { profile } : {}),
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
  const diag = r.rows.some((x) => Number.isFinite(x.tps['gateway-nofsync']));
  const write = r.rows.some((x) => Number.isFinite(x.tps['gateway-write']));
  const out = [
    `pgbench -S (select-only), ${r.clients} clients, ${r.threads} threads, ${r.seconds}s a run, median of ${r.repeats} interleaved runs, scale ${r.scale}, PostgreSQL ${r.postgresVersion}`,
    table(['mode', 'TPS direct', 'TPS PgBouncer', 'TPS gateway', 'gw/direct', 'gw/PgBouncer', 'PgB/direct', '+µs/stmt vs direct', '+µs/stmt vs PgB'], rows),
  ];
  if (write) {
    out.push(
      '',
      'The gateway with --evidence-durability write (records reach the OS before the statement runs, the disk right after)',
      table(
        ['mode', 'TPS gateway (fsync)', 'TPS gateway (write)', 'write/direct', 'write/PgBouncer', '+µs/stmt vs PgB'],
        r.rows.map((x) => [
          x.mode,
          fmt(x.tps.gateway),
          fmt(x.tps['gateway-write']),
          `${(x.tps['gateway-write'] / x.tps.direct).toFixed(2)}x`,
          `${(x.tps['gateway-write'] / x.tps.pgbouncer).toFixed(2)}x`,
          fmt((x.latencyMs['gateway-write'] - x.latencyMs.pgbouncer) * 1000),
        ]),
      ),
    );
  }
  if (diag) {
    out.push(
      '',
      'Diagnosis: the same gateway with fdatasync skipped (NOT a supported mode; it shows what durability costs), and a bare Node.js passthrough (the hop alone)',
      table(
        ['mode', 'TPS gateway', 'TPS no-fsync', 'no-fsync/PgBouncer', '+µs/stmt vs direct', 'TPS passthrough', 'passthrough/PgBouncer'],
        r.rows.map((x) => [
          x.mode,
          fmt(x.tps.gateway),
          fmt(x.tps['gateway-nofsync']),
          `${(x.tps['gateway-nofsync'] / x.tps.pgbouncer).toFixed(2)}x`,
          fmt((x.latencyMs['gateway-nofsync'] - x.latencyMs.direct) * 1000),
          fmt(x.tps.passthrough),
          `${(x.tps.passthrough / x.tps.pgbouncer).toFixed(2)}x`,
        ]),
      ),
    );
  }
  if (r.pgbouncerInstalled) out.push('', 'PgBouncer was not on PATH: the bench installed the Debian package.');
  const us = (s: Spread) => `mean ${fmt(s.mean * 1000)} µs, p50 ${fmt(s.p50 * 1000)}, p90 ${fmt(s.p90 * 1000)}, p99 ${fmt(s.p99 * 1000)}`;
  for (const row of r.rows) {
    const g = row.gateway;
    if (!g) continue;
    out.push(
      '',
      `gateway, ${row.mode} (last run): ${fmt(g.decisions)} statements decided and recorded`,
      `  wait for the durable evidence record per statement: ${us(g.evidenceWaitMs)}`,
      `  evidence fdatasync: ${fmt(g.fsyncs)} calls, ${(g.decisions / Math.max(1, g.fsyncs)).toFixed(1)} statements per fsync, each ${us(g.fsyncMs)}`,
      `  socket writes: ${(g.socketWrites / Math.max(1, g.decisions)).toFixed(2)} per statement`,
    );
  }
  if (r.profile) out.push('', `gateway CPU profile: ${r.profile.file}`, formatProfile(r.profile.summary, r.profile.statements));
  return out.join('\n');
}
