/**
 * Reload under load: pgbench runs through the gateway while the policy bundle is reloaded 100
 * times, each reload a real change (a rule flips between two tables), so every one is read,
 * validated, linted, compiled and swapped. Reported, never asserted: failed transactions (the claim
 * is zero) and the TPS dip.
 *
 * The dip is measured inside ONE pgbench run that alternates quiet windows with reloading windows,
 * and transactions are counted per window from pgbench's per-transaction log: on a shared machine a
 * separate "quiet run" before would measure the neighbours as much as the reloads. A reload is CPU
 * work on the gateway's event loop, so the dip grows with the reload rate; `lostMsPerReload` is the
 * rate-independent number, the serving time each reload costs.
 *
 *   tsx bench/reload.ts [--reloads 100] [--rate 10] [--window 2] [--clients 4] [--store file|postgres] [--json]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadSampleData, startLocalPostgres } from '../runtime/embedded/postgres.ts';
import { issueToken } from '../runtime/identity/dev-key.ts';
import { readEvidence } from '../runtime/evidence/reader.ts';
import { startGateway, type RunningGateway } from '../runtime/gateway/start.ts';
import { fmt, median, progress, table } from './report.ts';

export interface ReloadBenchOptions {
  clients: number;
  /** default 100 */
  reloads?: number;
  /** reloads per second inside a reloading window; default 10 */
  rate?: number;
  /** length of each quiet and each reloading window, seconds; default 2 */
  windowSeconds?: number;
  /** evidence store of the gateway: its data dir (default) or a PostgreSQL state database */
  store?: 'file' | 'postgres';
}

export interface ReloadResult {
  store: 'file' | 'postgres';
  clients: number;
  seconds: number;
  windows: { kind: 'quiet' | 'reloading'; tps: number }[];
  quietTps: number;
  reloadingTps: number;
  transactions: number;
  /** failed transactions plus clients pgbench aborted after an error: the claim is 0 */
  failedTransactions: number;
  reloads: { requested: number; rate: number; done: number; ok: number; rejected: number; medianMs: number; maxMs: number };
  /** (quiet - reloading) / quiet over the medians of the windows, in percent */
  dipPercent: number;
  /** the slowest reloading window against the quiet median, in percent */
  worstWindowDipPercent: number;
  /** serving time lost per reload: dip x window length / reloads per window */
  lostMsPerReload: number;
  /** distinct policy revisions that stamped the run's decisions */
  revisionsSeen: number;
}

const SCRIPT = '\\set id random(1, 5)\nselect name, price from products where id = :id\n';

/** A rule that changes on every reload, on tables the benchmark never reads. */
function flipping(i: number): string {
  return `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: bench-reload }
spec:
  subjects: [{ group: support }]
  targets: [shop-db]
  rules:
    - id: flip
      effect: deny
      actions: [select]
      resources: [${i % 2 ? 'bench_a' : 'bench_b'}]
      description: reload ${i}
`;
}

interface PgbenchOutcome {
  out: string;
  transactions: number;
  failed: number;
  aborted: number;
  /** completion instants (ms since the epoch) of every transaction, from the per-transaction log */
  completions: number[];
}

async function pgbench(env: NodeJS.ProcessEnv, script: string, clients: number, seconds: number, logDir?: string): Promise<PgbenchOutcome> {
  const args = ['-n', '-M', 'simple', '-f', script, '-c', String(clients), '-j', String(Math.min(2, clients)), '-T', String(seconds)];
  if (logDir) args.push('-l', `--log-prefix=${join(logDir, 'tx')}`);
  // Not runTool: a run with aborted clients exits non-zero, and that is a result here, not a crash.
  const out = await new Promise<string>((done) => {
    execFile('pgbench', args, { env, timeout: (seconds + 30) * 1000, maxBuffer: 16 << 20 }, (_err, stdout, stderr) => done(`${stdout}\n${stderr}`));
  });
  const completions: number[] = [];
  if (logDir) {
    for (const f of (await readdir(logDir)).filter((n) => n.startsWith('tx.'))) {
      // client_id transaction_no time script_no time_epoch time_us
      for (const line of (await readFile(join(logDir, f), 'utf8')).split('\n')) {
        const p = line.split(' ');
        if (p.length >= 6) completions.push(Number(p[4]) * 1000 + Number(p[5]) / 1000);
      }
    }
  }
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(transactions)) throw new Error(`pgbench did not run:\n${out.trim().split('\n').slice(-6).join('\n')}`);
  return {
    out,
    transactions,
    failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
    aborted: (out.match(/client \d+ aborted/g) ?? []).length,
    completions,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export async function runReloadBench(opts: ReloadBenchOptions): Promise<ReloadResult> {
  const requested = opts.reloads ?? 100;
  const rate = opts.rate ?? 10;
  const windowMs = (opts.windowSeconds ?? 2) * 1000;
  const perWindow = Math.max(1, Math.round((rate * windowMs) / 1000));
  const reloadWindows = Math.ceil(requested / perWindow);
  // quiet, reloading, quiet, ..., quiet: every reloading window has quiet on both sides; 1 s of edge
  const seconds = Math.ceil(((2 * reloadWindows + 1) * windowMs) / 1000) + 2;
  const storeKind = opts.store ?? 'file';

  const root = await mkdtemp(join(tmpdir(), 'pc-bench-reload-'));
  // As root, PostgreSQL runs as an unprivileged account that must traverse this directory.
  await chmod(root, 0o711);
  const server = await startLocalPostgres({ dataDir: join(root, 'pg'), password: randomBytes(12).toString('base64url') });
  let gw: RunningGateway | undefined;
  try {
    progress('loading sample data');
    await loadSampleData(server);
    let state: string | undefined;
    if (storeKind === 'postgres') {
      const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
      await admin.connect();
      await admin.query('CREATE DATABASE portcullis_state');
      await admin.end();
      state = server.url.replace(/\/postgres$/, '/portcullis_state');
    }

    const repo = join(root, 'policies');
    await cp(resolve(import.meta.dirname, '../policies'), repo, { recursive: true });
    await rm(join(repo, 'tests'), { recursive: true, force: true });
    const targetFile = join(repo, 'targets', 'shop-db.yaml');
    await writeFile(targetFile, (await readFile(targetFile, 'utf8')).replace(/^  port: .*$/m, `  port: ${server.port}`).replace(/^  user: .*$/m, `  user: ${server.user}`));
    process.env.SHOP_DB_PASSWORD = server.password;
    const flipFile = join(repo, 'policies', 'bench-reload.yaml');
    await writeFile(flipFile, flipping(0));

    const dataDir = join(root, 'data');
    // Only the PostgreSQL listener is measured; other listeners would only claim ports.
    gw = await startGateway(
      { policies: repo, dataDir, pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false, ...(state ? { state: { postgres: state, replica: 'bench' } } : {}) },
      { log: () => {} },
    );
    if (!gw.runtime.ctx.bundle()) throw new Error(`the bench policy repo did not load: ${JSON.stringify(gw.runtime.status().lastReload)}`);
    const script = join(root, 'read.sql');
    await writeFile(script, SCRIPT);
    const { token } = await issueToken({ dataDir, subject: 'support-agent', ttl: '1h' });
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
    Object.assign(env, { PGHOST: '127.0.0.1', PGPORT: String(gw.pgPort!), PGUSER: 'support-agent', PGPASSWORD: token, PGDATABASE: 'shop-db', PGSSLMODE: 'disable' });

    progress('warm-up');
    await pgbench(env, script, opts.clients, 2); // catalog, caches, JIT
    const runtime = gw.runtime;
    await runtime.reload(); // the first reload compiles schemas; not what is measured

    progress(`pgbench ${seconds} s with ${reloadWindows} reloading windows of ${perWindow} reloads`);
    const before = runtime.status().reloads;
    const startedAt = new Date().toISOString();
    const logDir = join(root, 'txlog');
    await mkdir(logDir);
    const load = pgbench(env, script, opts.clients, seconds, logDir);
    const windows: { kind: 'quiet' | 'reloading'; from: number; to: number }[] = [];
    const durations: number[] = [];
    await sleep(1000); // connections up
    let next = Date.now();
    let done = 0;
    for (let w = 0; w < 2 * reloadWindows + 1; w++) {
      const kind = w % 2 ? 'reloading' : 'quiet';
      const from = next;
      next = from + windowMs;
      if (kind === 'reloading') {
        const n = Math.min(perWindow, requested - done);
        for (let i = 0; i < n; i++) {
          await sleep(from + (i * windowMs) / n - Date.now());
          const t = performance.now();
          await writeFile(flipFile, flipping(++done));
          await runtime.reload();
          durations.push(performance.now() - t);
        }
      }
      await sleep(next - Date.now());
      windows.push({ kind, from, to: Math.max(next, Date.now()) });
    }
    const run = await load;
    const after = runtime.status().reloads;

    const counted = windows.map((w) => ({ kind: w.kind, tps: (run.completions.filter((t) => t >= w.from && t < w.to).length * 1000) / (w.to - w.from) }));
    const quietTps = median(counted.filter((w) => w.kind === 'quiet').map((w) => w.tps));
    const reloadingTps = median(counted.filter((w) => w.kind === 'reloading').map((w) => w.tps));
    const worst = Math.min(...counted.filter((w) => w.kind === 'reloading').map((w) => w.tps));
    const dip = (quietTps - reloadingTps) / quietTps;

    const stop = gw.stop();
    gw = undefined;
    await stop;
    const revisions = new Set<string>();
    const records =
      storeKind === 'file'
        ? readEvidence(join(dataDir, 'evidence'), { types: ['decision'] })
        : (await import('../runtime/evidence/postgres-verify.ts')).readPostgresEvidence(state!, { types: ['decision'] });
    for await (const r of records) {
      if (r.ts >= startedAt) revisions.add((r.data as { decision: { revision: { digest: string } } }).decision.revision.digest);
    }

    return {
      store: storeKind,
      clients: opts.clients,
      seconds,
      windows: counted,
      quietTps,
      reloadingTps,
      transactions: run.transactions,
      failedTransactions: run.failed + run.aborted,
      reloads: { requested, rate, done, ok: after.ok - before.ok, rejected: after.rejected - before.rejected, medianMs: median(durations), maxMs: Math.max(...durations) },
      dipPercent: dip * 100,
      worstWindowDipPercent: ((quietTps - worst) / quietTps) * 100,
      lostMsPerReload: (dip * windowMs) / perWindow,
      revisionsSeen: revisions.size,
    };
  } finally {
    await gw?.stop().catch(() => {});
    await server.stop();
    await rm(root, { recursive: true, force: true });
  }
}

export function formatReload(r: ReloadResult): string {
  const rows = [
    ['quiet windows (median)', fmt(r.quietTps)],
    [`reloading windows (median, ${r.reloads.rate}/s)`, fmt(r.reloadingTps)],
  ];
  return [
    `Reload under load: pgbench -M simple -c ${r.clients} for ${r.seconds} s, evidence in ${r.store === 'file' ? 'the data dir' : 'PostgreSQL'}`,
    table(['windows', 'tps'], rows),
    `${r.reloads.done} reloads (${r.reloads.ok} live, ${r.reloads.rejected} rejected), ${fmt(r.reloads.medianMs, 1)} ms median, ${fmt(r.reloads.maxMs, 1)} ms max; ` +
      `decisions stamped by ${r.revisionsSeen} revisions`,
    `TPS dip: ${fmt(r.dipPercent, 1)}% (worst window ${fmt(r.worstWindowDipPercent, 1)}%), ${fmt(r.lostMsPerReload, 1)} ms of serving lost per reload; ` +
      `failed transactions: ${r.failedTransactions} of ${fmt(r.transactions)}`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      reloads: { type: 'string', default: '100' },
      rate: { type: 'string', default: '10' },
      window: { type: 'string', default: '2' },
      clients: { type: 'string', default: '4' },
      store: { type: 'string', default: 'file' },
      json: { type: 'boolean', default: false },
    },
  });
  const r = await runReloadBench({
    reloads: Number(values.reloads),
    rate: Number(values.rate),
    windowSeconds: Number(values.window),
    clients: Number(values.clients),
    store: values.store === 'postgres' ? 'postgres' : 'file',
  });
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatReload(r)}\n`);
}
