/**
 * HTTP: requests per second for a small JSON response, straight to a real upstream (a node:http
 * server started here) and through the gateway's HTTP listener, with `wrk` as the load generator.
 * Gateway rows: a target whose classification masks `$..email` (masking on), the same upstream as a
 * target without classification (masking off), so the masking cost shows on its own, and the masked
 * target on a second gateway with `--evidence-durability write` (no fdatasync wait per request), so
 * the durability wait shows apart from CPU.
 * node-proxy: a bare Node.js reverse proxy (bench/http-proxy-child.ts, its own process) that forwards
 * as the gateway does (node:http in, the gateway's undici Agent options out, body streamed) with no
 * token, policy, evidence or masking: the ceiling of any Node.js HTTP proxy on this machine, so the
 * gateway rows can be read against it as well as against direct.
 * Runs are interleaved and repeated; the median is kept. Reported, never asserted.
 * Then one more round per process of ours (node-proxy, gateway masked and unmasked) is sampled inside
 * that process (bench/http-stages.ts) for CPU µs per request by stage: token, decide, record, forward,
 * mask, respond. On a shared machine RPS moves with the neighbours; the stage split moves much less.
 *
 * The gateway runs in a child process (this file with BENCH_HTTP_CHILD=1), so it has a CPU of its
 * own like the PostgreSQL bench's gateway: `startGateway` (runtime/gateway/start.ts), recording on
 * (evidence store with fsync group commit), on a temp policy repo, with a dev-issuer token.
 *
 *   tsx bench/http.ts [--duration 10] [--repeats 3] [--connections 8] [--json]
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { issueToken } from '../runtime/identity/dev-key.ts';
import { fmt, median, progress, table } from './report.ts';
import { serveStageProfiler, STAGE_ORDER, type StageMicros } from './http-stages.ts';
import { maskBody } from '../runtime/http-transport/masking/body.ts';
import { jsonMasker } from '../runtime/http-transport/masking/json-mask.ts';
import type { Mask } from '../runtime/engine/decision.ts';

export const httpPaths = ['direct', 'node-proxy', 'gateway', 'gateway-nomask', 'gateway-write'] as const;
export type HttpPath = (typeof httpPaths)[number];

const MASKED = 'bench-api';
const PLAIN = 'bench-api-plain';
/** The upstream's answer: small, JSON, with a field the masked target's classification selects. */
const DOCUMENT = JSON.stringify({ id: 4711, name: 'Ada Lovelace', email: 'ada@example.com', plan: 'pro', active: true, tags: ['vip', 'eu'] });
const PATH = '/customers/4711';

export interface HttpBenchOptions {
  seconds: number;
  repeats: number;
  /** wrk connections (default 8) */
  connections?: number;
  /** wrk threads (default 2) */
  threads?: number;
}

export interface WrkResult {
  rps: number;
  /** wrk's mean latency, ms */
  latencyMs: number;
  p99Ms: number;
  requests: number;
  /** non-2xx/3xx responses plus socket errors: the claim is 0, else the row measures refusals */
  errors: number;
}

export interface HttpResult {
  connections: number;
  threads: number;
  seconds: number;
  repeats: number;
  wrkInstalled: boolean;
  responseBytes: number;
  rps: Record<HttpPath, number>;
  latencyMs: Record<HttpPath, number>;
  p99Ms: Record<HttpPath, number>;
  errors: Record<HttpPath, number>;
  runs: Record<HttpPath, WrkResult[]>;
  gatewayVsDirect: number;
  nomaskVsDirect: number;
  writeVsDirect: number;
  /** the bare Node.js proxy over direct: the most any Node.js HTTP proxy reaches on this machine */
  nodeProxyVsDirect: number;
  /** the gateway rows over the bare Node.js proxy: the share of that ceiling the gateway keeps */
  gatewayVsNodeProxy: number;
  nomaskVsNodeProxy: number;
  writeVsNodeProxy: number;
  /** µs a request the gateway adds over direct, from wrk's mean latency */
  addedMicros: number;
  addedMicrosNomask: number;
  /** what the masked target answered, so the table can show masking was live */
  maskedSample: string;
  /** CPU µs per request by stage, sampled in the child while wrk ran one more round of that path */
  stages: Partial<Record<HttpPath, StageMicros>>;
  /** process CPU time (user + system, every thread) µs per request, median over the timed rounds */
  cpuMicros: Partial<Record<HttpPath, number>>;
  /** the same in the sampled round (profiler on) */
  sampledCpuMicros: Partial<Record<HttpPath, number>>;
  /** the masker alone on the bench's document, in this process: parse, mask, serialise */
  maskBodyMicros: number;
}

/**
 * maskBody on the upstream's document with the masked target's mask, in this process: the masking
 * stage without sockets, median of 5 runs of 20k.
 */
function timeMaskBody(): number {
  const masker = jsonMasker([{ kind: 'field', pattern: '$..email', strategy: 'redact' } as Mask], Buffer.alloc(32, 7));
  const policy = { target: MASKED, transform: (v: unknown) => masker.apply(v), scrub: false, fieldNames: ['email'], passUnmaskedContentTypes: [], limit: 1 << 20 };
  const body = Buffer.from(DOCUMENT);
  const runs: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < 20_000; i++) maskBody(body, 'application/json', policy);
    // the first run warms the JIT up
    if (r > 0) runs.push(Number(process.hrtime.bigint() - t) / 20_000 / 1000);
  }
  return median(runs);
}

/**
 * The paths whose process is ours to sample (direct is the upstream in this process). The masked
 * row goes last: a process's first sampled round ran measurably slower in trials, whichever path.
 */
const PROFILED: readonly HttpPath[] = ['node-proxy', 'gateway-nomask', 'gateway'];

function policyRepo(upstream: string): Record<string, string> {
  const h = 'apiVersion: portcullis.dev/v1';
  const target = (name: string, classification: string) => `${h}
kind: Target
metadata: { name: ${name} }
spec:
  type: http
  url: ${upstream}
  timeout: 10s
${classification}`;
  return {
    'portcullis.yaml': `${h}\nkind: Repository\nmetadata: { name: bench-http }\n`,
    [`targets/${MASKED}.yaml`]: target(MASKED, '  classification:\n    - name: pii\n      fields: ["$..email"]\n      strategy: redact\n'),
    [`targets/${PLAIN}.yaml`]: target(PLAIN, ''),
    'identities/agents.yaml': `${h}
kind: Identity
metadata: { name: bench-agent }
spec: { kind: agent, match: { subject: bench-agent }, groups: [agents] }
`,
    'policies/bench.yaml': `${h}
kind: Policy
metadata: { name: bench-http-read }
spec:
  subjects: [{ group: agents }]
  targets: [${MASKED}, ${PLAIN}]
  rules:
    - id: read-customers
      effect: allow
      actions: [GET]
      resources: ["/customers/*"]
`,
  };
}

async function startUpstream(): Promise<{ url: string; server: Server }> {
  const body = Buffer.from(DOCUMENT);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** wrk from Debian; installed with apt-get when missing (and the result says so). */
function ensureWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    progress('http: wrk is missing, running apt-get install -y wrk');
    try {
      execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (e) {
      throw new Error(`wrk is not installed and apt-get install -y wrk failed: ${(e as Error).message}`);
    }
    return true;
  }
  return false;
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

function wrk(url: string, headers: string[], o: { connections: number; threads: number; seconds: number }): Promise<WrkResult> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
      if (err || !Number.isFinite(rps)) return reject(new Error(`wrk failed: ${(stderr || stdout || String(err)).trim().split('\n').slice(-4).join('\n')}`));
      const lat = /Latency\s+([\d.]+)(us|ms|s|m)/.exec(stdout);
      const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)/.exec(stdout);
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      resolve({
        rps,
        latencyMs: lat ? ms(lat[1]!, lat[2]!) : NaN,
        p99Ms: p99 ? ms(p99[1]!, p99[2]!) : NaN,
        requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN),
        errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) + (socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
      });
    });
  });
}

interface Child {
  port: number;
  /** one line to the child's stdin; resolves with its next stdout line */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

async function startGatewayChild(policies: string, dataDir: string, durability: 'fsync' | 'write'): Promise<Child> {
  // BENCH_HTTP_PROFILE=DIR: the fsync gateway writes its V8 CPU profile there (summarise with bench/profile.ts).
  const profileDir = durability === 'fsync' ? process.env.BENCH_HTTP_PROFILE : undefined;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  return startChild('gateway', [...profile, fileURLToPath(import.meta.url)], {
    BENCH_HTTP_CHILD: '1',
    BENCH_POLICIES: policies,
    BENCH_DATA_DIR: dataDir,
    BENCH_DURABILITY: durability,
  });
}

/** The node-proxy path: bench/http-proxy-child.ts in front of the same upstream. */
function startNodeProxyChild(upstream: string): Promise<Child> {
  return startChild('node-proxy', [fileURLToPath(new URL('./http-proxy-child.ts', import.meta.url))], { BENCH_UPSTREAM: upstream });
}

/** A tsx child that prints `{"port":N}` when ready and closes on SIGTERM. */
async function startChild(what: string, args: string[], env: Record<string, string>): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const first = await Promise.race([
    new Promise<string>((r) => lines.once('line', r)),
    exited.then(() => {
      throw new Error(`the ${what} process exited before it was ready:\n${stderr.trim()}`);
    }),
  ]).catch((err) => {
    kill();
    throw err;
  });
  return {
    port: (JSON.parse(first) as { port: number }).port,
    command(line) {
      const answer = new Promise<string>((r) => lines.once('line', r));
      child.stdin!.write(`${line}\n`);
      return answer;
    },
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(kill, 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export async function runHttpBench(opts: HttpBenchOptions): Promise<HttpResult> {
  const load = { connections: opts.connections ?? 8, threads: opts.threads ?? 2, seconds: opts.seconds };
  const wrkInstalled = ensureWrk();
  const root = await mkdtemp(join(tmpdir(), 'pc-bench-http-'));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    progress('http: starting the upstream');
    const upstream = await startUpstream();
    stops.push(() => new Promise((r) => (upstream.server.closeAllConnections(), upstream.server.close(r))));

    const policies = join(root, 'policies');
    for (const [path, text] of Object.entries(policyRepo(upstream.url))) {
      await mkdir(dirname(join(policies, path)), { recursive: true });
      await writeFile(join(policies, path), text);
    }
    const dataDir = join(root, 'data');
    await mkdir(dataDir, { recursive: true });
    const { token } = await issueToken({ dataDir, subject: 'bench-agent', ttl: '4h' });

    progress('http: starting the bare Node.js proxy (node-proxy)');
    const nodeProxy = await startNodeProxyChild(upstream.url);
    stops.push(() => nodeProxy.stop());
    progress('http: starting the gateway');
    const gateway = await startGatewayChild(policies, dataDir, 'fsync');
    stops.push(() => gateway.stop());
    progress('http: starting a second gateway with --evidence-durability write');
    // Same policies, issuer and masking key; its own evidence log, so the two chains stay apart.
    const writeDataDir = join(root, 'data-write');
    await cp(dataDir, writeDataDir, { recursive: true, filter: (src) => !src.includes('evidence') });
    const writeMode = await startGatewayChild(policies, writeDataDir, 'write');
    stops.push(() => writeMode.stop());
    const gw = `http://127.0.0.1:${gateway.port}`;
    const urls: Record<HttpPath, string> = {
      direct: `${upstream.url}${PATH}`,
      'node-proxy': `http://127.0.0.1:${nodeProxy.port}${PATH}`,
      gateway: `${gw}/${MASKED}${PATH}`,
      'gateway-nomask': `${gw}/${PLAIN}${PATH}`,
      'gateway-write': `http://127.0.0.1:${writeMode.port}/${MASKED}${PATH}`,
    };
    const bearer = [`Authorization: Bearer ${token}`];
    const headers: Record<HttpPath, string[]> = { direct: [], 'node-proxy': [], gateway: bearer, 'gateway-nomask': bearer, 'gateway-write': bearer };

    // A bench that measured refusals would be worse than none: both targets must answer, one masked.
    const check = async (p: HttpPath) => {
      const res = await fetch(urls[p], { headers: Object.fromEntries(headers[p].map((h) => h.split(': ') as [string, string])) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${p}: ${res.status} ${text.slice(0, 300)}`);
      return text;
    };
    if ((await check('node-proxy')) !== DOCUMENT) throw new Error('the bare Node.js proxy changed the body');
    const maskedSample = await check('gateway');
    const plainSample = await check('gateway-nomask');
    if ((await check('gateway-write')) !== maskedSample) throw new Error('the write-durability gateway answered differently');
    if (maskedSample.includes('ada@example.com')) throw new Error(`the masked target did not mask the email: ${maskedSample}`);
    if (!plainSample.includes('ada@example.com')) throw new Error(`the unmasked target changed the body: ${plainSample}`);

    // Connections, JIT and caches settle before anything is timed.
    for (const p of httpPaths) await wrk(urls[p], headers[p], { ...load, seconds: 1 });

    const runs = Object.fromEntries(httpPaths.map((p) => [p, [] as WrkResult[]])) as Record<HttpPath, WrkResult[]>;
    const owner: Partial<Record<HttpPath, Child>> = { 'node-proxy': nodeProxy, gateway, 'gateway-nomask': gateway };
    const cpuMs = async (p: HttpPath) => (JSON.parse(await owner[p]!.command('cpu')) as { cpuMs: number }).cpuMs;
    const cpuRuns = Object.fromEntries(PROFILED.map((p) => [p, [] as number[]])) as Record<HttpPath, number[]>;
    for (let r = 1; r <= opts.repeats; r++) {
      // Rotate the first path so none always runs on the freshest (or most tired) machine.
      const order = httpPaths.map((_, i) => httpPaths[(i + r - 1) % httpPaths.length]!);
      for (const p of order) {
        progress(`http: round ${r}/${opts.repeats}, ${p} (${opts.seconds}s)`);
        const before = PROFILED.includes(p) ? await cpuMs(p) : 0;
        const w = await wrk(urls[p], headers[p], load);
        runs[p].push(w);
        if (PROFILED.includes(p)) cpuRuns[p].push((((await cpuMs(p)) - before) * 1000) / w.requests);
      }
    }
    // Per-stage CPU: one more round per path of ours, sampled inside its process.
    const stages: Partial<Record<HttpPath, StageMicros>> = {};
    const sampledCpuMicros: Partial<Record<HttpPath, number>> = {};
    const cpuMicros = Object.fromEntries(PROFILED.map((p) => [p, median(cpuRuns[p])]));
    for (const p of PROFILED) {
      progress(`http: per-stage CPU of ${p} (${opts.seconds}s, sampled)`);
      const c = owner[p]!;
      await c.command('profile start');
      const w = await wrk(urls[p], headers[p], load);
      const answer = JSON.parse(await c.command('profile stop')) as { stages?: Record<string, number>; cpuMs?: number; error?: string };
      if (!answer.stages) throw new Error(`${p}: the stage profile failed: ${answer.error}`);
      stages[p] = Object.fromEntries(Object.entries(answer.stages).map(([k, ms]) => [k, (ms * 1000) / w.requests]));
      sampledCpuMicros[p] = ((answer.cpuMs ?? NaN) * 1000) / w.requests;
    }
    const maskBodyMicros = timeMaskBody();
    const pick = (f: (w: WrkResult) => number) => Object.fromEntries(httpPaths.map((p) => [p, median(runs[p].map(f))])) as Record<HttpPath, number>;
    const rps = pick((w) => w.rps);
    const latencyMs = pick((w) => w.latencyMs);
    return {
      ...load,
      repeats: opts.repeats,
      wrkInstalled,
      responseBytes: Buffer.byteLength(DOCUMENT),
      rps,
      latencyMs,
      p99Ms: pick((w) => w.p99Ms),
      errors: Object.fromEntries(httpPaths.map((p) => [p, runs[p].reduce((n, w) => n + w.errors, 0)])) as Record<HttpPath, number>,
      runs,
      gatewayVsDirect: rps.gateway / rps.direct,
      nomaskVsDirect: rps['gateway-nomask'] / rps.direct,
      writeVsDirect: rps['gateway-write'] / rps.direct,
      nodeProxyVsDirect: rps['node-proxy'] / rps.direct,
      gatewayVsNodeProxy: rps.gateway / rps['node-proxy'],
      nomaskVsNodeProxy: rps['gateway-nomask'] / rps['node-proxy'],
      writeVsNodeProxy: rps['gateway-write'] / rps['node-proxy'],
      addedMicros: (latencyMs.gateway - latencyMs.direct) * 1000,
      addedMicrosNomask: (latencyMs['gateway-nomask'] - latencyMs.direct) * 1000,
      maskedSample,
      stages,
      cpuMicros,
      sampledCpuMicros,
      maskBodyMicros,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

export function formatHttp(r: HttpResult): string {
  const label: Record<HttpPath, string> = {
    direct: 'direct',
    'node-proxy': 'node-proxy (bare Node.js proxy)',
    gateway: 'gateway, masking on',
    'gateway-nomask': 'gateway, masking off',
    'gateway-write': 'gateway, masking on, durability write',
  };
  const rows = httpPaths.map((p) => [
    label[p],
    fmt(r.rps[p]),
    p === 'direct' ? '-' : `${(r.rps[p] / r.rps.direct).toFixed(2)}x`,
    p === 'direct' || p === 'node-proxy' ? '-' : `${(r.rps[p] / r.rps['node-proxy']).toFixed(2)}x`,
    fmt(r.latencyMs[p] * 1000),
    p === 'direct' ? '-' : fmt((r.latencyMs[p] - r.latencyMs.direct) * 1000),
    fmt(r.p99Ms[p] * 1000),
    fmt(r.errors[p]),
  ]);
  const maskCost = (r.latencyMs.gateway - r.latencyMs['gateway-nomask']) * 1000;
  const shown = STAGE_ORDER.filter((s) => PROFILED.some((p) => (r.stages[p]?.[s] ?? 0) >= 0.5));
  const total = (p: HttpPath) => Object.values(r.stages[p] ?? {}).reduce((a, b) => a + b, 0);
  const cell = (p: HttpPath, s: string) => (r.stages[p] ? (r.stages[p]![s] ?? 0).toFixed(1) : '-');
  const stageRows = [
    ...shown.map((s) => [s, ...PROFILED.map((p) => cell(p, s))]),
    ['total sampled µs a request', ...PROFILED.map((p) => total(p).toFixed(1))],
    ['process CPU µs a request, sampled round', ...PROFILED.map((p) => (r.sampledCpuMicros[p] ?? NaN).toFixed(1))],
    ['process CPU µs a request, timed rounds (median)', ...PROFILED.map((p) => (r.cpuMicros[p] ?? NaN).toFixed(1))],
    ['CPU per request vs node-proxy', ...PROFILED.map((p) => `${((r.cpuMicros['node-proxy'] ?? NaN) / (r.cpuMicros[p] ?? NaN)).toFixed(2)}x`)],
  ];
  return [
    `HTTP: wrk -t ${r.threads} -c ${r.connections} -d ${r.seconds}s, GET of a ${r.responseBytes}-byte JSON document, median of ${r.repeats}` +
      (r.wrkInstalled ? ' (wrk was installed with apt-get for this run)' : ''),
    table(['path', 'RPS', 'vs direct', 'vs node-proxy', 'latency µs', '+µs vs direct', 'p99 µs', 'errors'], rows),
    `vs node-proxy: RPS over node-proxy's, a bare reverse proxy in its own process forwarding as the gateway does (node:http, undici Agent, streamed body) ` +
      `with no token, policy, evidence or masking; its ${r.nodeProxyVsDirect.toFixed(2)}x direct is the ceiling of any Node.js HTTP proxy here, ` +
      `so 0.5x direct would need the gateway at ${(0.5 / r.nodeProxyVsDirect).toFixed(2)}x node-proxy`,
    `masking costs ${fmt(maskCost)} µs a request (masked ${fmt(r.rps.gateway)} vs unmasked ${fmt(r.rps['gateway-nomask'])} RPS); the masked target answered ${r.maskedSample}`,
    '',
    `CPU µs a request on the process's main thread, by stage (sampled during one more wrk round per path; idle and fsync waits left out):`,
    table(['stage', ...PROFILED], stageRows),
    `masking costs ${(total('gateway') - total('gateway-nomask')).toFixed(1)} sampled µs and ${((r.cpuMicros.gateway ?? NaN) - (r.cpuMicros['gateway-nomask'] ?? NaN)).toFixed(1)} CPU µs a request (gateway masked minus unmasked, same process); ` +
      `'CPU per request vs node-proxy' (timed rounds, no profiler) is node-proxy's CPU µs over the row's: the RPS ratio a CPU-bound run would show`,
    `the masker alone (maskBody on this document: parse, mask, serialise) takes ${r.maskBodyMicros.toFixed(2)} µs`,
  ].join('\n');
}

/** The gateway process: prints `{"port":N}` when ready, closes on SIGTERM. */
async function child(): Promise<void> {
  const { startGateway } = await import('../runtime/gateway/start.ts');
  // The gateway as `portcullis gateway` builds it, with only the HTTP listener (the one measured).
  const gw = await startGateway(
    {
      policies: process.env.BENCH_POLICIES!,
      dataDir: process.env.BENCH_DATA_DIR!,
      watch: false,
      pgPort: 'off',
      httpPort: 0,
      adminPort: 'off',
      drainMs: 0,
      // The supported durability levels (gateway --evidence-durability): fsync (default) or write.
      evidence: { durability: process.env.BENCH_DURABILITY === 'write' ? 'write' : 'fsync' },
    },
    {
      // A log line per request would be the loudest thing in the run; only problems are printed.
      log: (event, fields) => {
        if (event === 'bundle.rejected' || event.endsWith('.error')) process.stderr.write(`${event} ${JSON.stringify(fields)}\n`);
      },
    },
  );
  process.stdout.write(`${JSON.stringify({ port: gw.http!.port })}\n`);
  serveStageProfiler(process.stdin, (line) => process.stdout.write(`${line}\n`));
  process.once('SIGTERM', () => {
    void (async () => {
      await gw.stop();
      process.exit(0);
    })();
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.env.BENCH_HTTP_CHILD === '1') {
    await child();
  } else {
    const { values } = parseArgs({
      options: {
        duration: { type: 'string', default: '10' },
        repeats: { type: 'string', default: '3' },
        connections: { type: 'string', default: '8' },
        json: { type: 'boolean', default: false },
      },
    });
    const r = await runHttpBench({ seconds: Number(values.duration), repeats: Number(values.repeats), connections: Number(values.connections) });
    process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatHttp(r)}\n`);
  }
}
