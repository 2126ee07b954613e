/**
 * One pgbench path alone, with CPU accounting: for comparing two builds head to head (run it from
 * each checkout, interleaved), where the full bench's run-to-run spread would hide a 10% change.
 *
 *   tsx bench/one-path.ts [--path gateway|write|nofsync|pgbouncer|passthrough|direct] [--mode simple|extended|prepared]
 *                         [--duration 8] [--profile DIR] [--gateways N]
 *
 * `--gateways N` (gateway paths) starts N gateway processes, each with its own data directory, and
 * splits the 8 clients between them: what spreading sessions over more event loops could gain.
 *
 * Prints TPS, latency, how busy the machine was, and the CPU each thread of the measured process
 * (gateway or passthrough) spent per statement, from /proc. With `--profile DIR` (gateway paths) it
 * also prints the gateway main thread's µs per statement by stage (analysis, decision, evidence,
 * masking, protocol, sockets...), from the CPU profile samples taken during the measured run only.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startLocalPostgres } from '../runtime/embedded/postgres.ts';
import { startBenchGateway, TARGET } from './gateway.ts';
import { startPgbouncer } from './pgbouncer.ts';
import { startPassthrough } from './passthrough.ts';
import { pgbenchSelect, pgEnv, runTool, type Endpoint, type PgbenchMode } from './pgbench.ts';
import { formatProfile, latestProfile, summarise } from './profile.ts';

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'gateway' },
    mode: { type: 'string', default: 'simple' },
    duration: { type: 'string', default: '8' },
    profile: { type: 'string' },
    gateways: { type: 'string', default: '1' },
  },
});
const gateways = Number(values.gateways);
const path = values.path!;
const mode = values.mode as PgbenchMode;
const seconds = Number(values.duration);
if (!['gateway', 'write', 'nofsync', 'pgbouncer', 'passthrough', 'direct'].includes(path) || !['simple', 'extended', 'prepared'].includes(mode) || !(seconds > 0) || ![1, 2, 4, 8].includes(gateways)) {
  process.stderr.write(
    'usage: tsx bench/one-path.ts [--path gateway|write|nofsync|pgbouncer|passthrough|direct] [--mode simple|extended|prepared] [--duration S] [--profile DIR] [--gateways 1|2|4|8]\n',
  );
  process.exit(2);
}

const scratch = await mkdtemp(join(tmpdir(), 'pc-one-path-'));
await chmod(scratch, 0o711);
const password = randomBytes(9).toString('hex');
const server = await startLocalPostgres({ dataDir: join(scratch, 'data'), password, persistent: false, testRoles: false });
const stops: (() => Promise<unknown>)[] = [() => server.stop(), () => rm(scratch, { recursive: true, force: true })];
try {
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.query(`CREATE ROLE bench_gateway LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
  await admin.end();
  const owner: Endpoint = { host: '127.0.0.1', port: server.port, user: server.user, database: 'bench', password: server.password };
  await runTool('pgbench', ['-i', '-q', '-s', '10'], pgEnv(owner));
  const db = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'bench' });
  await db.connect();
  await db.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_gateway');
  await db.query('VACUUM ANALYZE');
  await db.end();

  let endpoints: Endpoint[] = [owner];
  let pid: number | undefined;
  /** when the (first) gateway process was spawned: its profile's clock starts about then */
  let spawnedAt: number | undefined;
  let stopFirst: (() => Promise<unknown>) | undefined;
  if (path === 'gateway' || path === 'write' || path === 'nofsync') {
    endpoints = [];
    for (let i = 0; i < gateways; i++) {
      if (i === 0) spawnedAt = performance.now();
      const g = await startBenchGateway(
        { port: server.port, database: 'bench', user: 'bench_gateway', password },
        { durability: path === 'write' ? 'write' : 'fsync', skipFsync: path === 'nofsync', ...(values.profile ? { profileDir: resolve(values.profile) } : {}) },
      );
      endpoints.push({ host: '127.0.0.1', port: g.port, user: 'agent', database: TARGET, password: g.token });
      // CPU is read for the first process; the others do the same work.
      pid ??= g.pid;
      let stopped: Promise<unknown> | undefined;
      const stop = () =>
        (stopped ??= g.stop().then(({ stats }) => {
          // what the gateway logged (counted, not written) while it ran: guard failures, catalog reloads
          if (stats && i === 0) for (const [event, n] of Object.entries(stats.events)) process.stdout.write(`  event ${event}: ${n}\n`);
        }));
      stopFirst ??= stop;
      stops.unshift(stop);
    }
  } else if (path === 'pgbouncer') {
    const b = await startPgbouncer({ port: server.port, database: 'bench', user: server.user, password: server.password }, () => {});
    endpoints = [{ ...owner, port: b.port }];
    stops.unshift(() => b.stop());
  } else if (path === 'passthrough') {
    const p = await startPassthrough(server.port);
    endpoints = [{ ...owner, port: p.port }];
    pid = Number(execFileSync('pgrep', ['-n', '-f', 'passthrough-child.ts']).toString().trim());
    stops.unshift(() => p.stop());
  }

  // Warm up caches and JIT first, as the full bench does.
  const load = (s: number) => Promise.all(endpoints.map((e) => pgbenchSelect(e, mode, { clients: 8 / endpoints.length, threads: endpoints.length > 1 ? 1 : 2, seconds: s })));
  await load(2);
  const threadTicks = async (): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    if (!pid) return out;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime + stime, in clock ticks (1/100 s)
      if (f.length > 12) out.set(tid === String(pid) ? 'main' : `thread ${tid}`, Number(f[11]) + Number(f[12]));
    }
    return out;
  };
  const machine = async () => (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const [t0, m0] = [await threadTicks(), await machine()];
  const runFrom = performance.now();
  const runs = await load(seconds);
  const runTo = performance.now();
  const r = { tps: runs.reduce((a, x) => a + x.tps, 0), latencyMs: runs.reduce((a, x) => a + x.latencyMs, 0) / runs.length };
  const [t1, m1] = [await threadTicks(), await machine()];
  const d = m1.map((v, i) => v - (m0[i] ?? 0));
  const total = d.reduce((a, b) => a + b, 0);
  const pct = (i: number) => `${((100 * (d[i] ?? 0)) / total).toFixed(1)}%`;
  process.stdout.write(
    `${path}${endpoints.length > 1 ? ` x${endpoints.length}` : ''} ${mode}: ${r.tps.toFixed(0)} TPS, latency ${r.latencyMs.toFixed(3)} ms; machine idle ${pct(3)}, user ${pct(0)}, system ${pct(2)}, softirq ${pct(6)}\n`,
  );
  const statements = (r.tps * seconds) / endpoints.length;
  for (const [name, ticks] of t1) {
    const us = ((ticks - (t0.get(name) ?? 0)) * 10_000) / statements;
    if (us >= 0.5) process.stdout.write(`  ${name}: ${us.toFixed(1)} µs CPU a statement\n`);
  }
  if (values.profile && stopFirst && spawnedAt !== undefined) {
    await stopFirst();
    const file = await latestProfile(resolve(values.profile));
    if (file) {
      const profile = JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof summarise>[0];
      // Only the samples of the measured run: startup (module loading, schema compilation) and the
      // warm-up would otherwise be divided over the statements too.
      const window = { from: (runFrom - spawnedAt) * 1000, to: (runTo - spawnedAt) * 1000 };
      const samples: number[] = [];
      const timeDeltas: number[] = [];
      let at = 0;
      for (let i = 0; i < profile.samples.length; i++) {
        at += profile.timeDeltas[i] ?? 0;
        if (at < window.from || at > window.to) continue;
        samples.push(profile.samples[i]!);
        timeDeltas.push(profile.timeDeltas[i] ?? 0);
      }
      process.stdout.write(`\nper stage, measured run only (${file}):\n${formatProfile(summarise({ ...profile, samples, timeDeltas }), Math.round(statements))}\n`);
    }
  }
} finally {
  for (const stop of stops) await stop().catch(() => undefined);
}
