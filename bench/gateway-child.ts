/**
 * The gateway under benchmark, as its own process so it gets a CPU of its own like PgBouncer does,
 * and so `node --cpu-prof` can profile it alone. It prints `{"port":N}` when ready; on SIGTERM it
 * prints its evidence-wait statistics and exits.
 *
 * Environment: BENCH_POLICIES, BENCH_DATA_DIR, and the target's password variable.
 */
import { startGatewayRuntime } from '../runtime/gateway/runtime.ts';
import { startPostgresGateway } from '../runtime/postgres/gateway/listener.ts';

const policies = process.env.BENCH_POLICIES;
const dataDir = process.env.BENCH_DATA_DIR;
if (!policies || !dataDir) throw new Error('BENCH_POLICIES and BENCH_DATA_DIR are required');

const events = new Map<string, number>();
const runtime = await startGatewayRuntime({
  policies,
  dataDir,
  // Per-session log lines would be the loudest thing in the run; count them instead.
  log: (event, fields) => {
    events.set(event, (events.get(event) ?? 0) + 1);
    if (event === 'bundle.rejected' || event.endsWith('.error')) process.stderr.write(`${event} ${JSON.stringify(fields)}\n`);
  },
});
if (!runtime.ctx.bundle()) throw new Error('the bench policy repo did not load');

// "Audit before action" makes every statement wait for its evidence record's group commit. That
// wait is not CPU, so a CPU profile cannot show it: time it here, around the recorder.
const recorder = runtime.ctx.recorder;
const waits: number[] = [];
const recordDecision = recorder.recordDecision.bind(recorder);
recorder.recordDecision = async (d) => {
  const t = performance.now();
  try {
    return await recordDecision(d);
  } finally {
    if (waits.length < 2_000_000) waits.push(performance.now() - t);
  }
};

const pg = await startPostgresGateway(runtime.ctx, { host: '127.0.0.1', port: 0, plaintext: 'loopback', maskKey: runtime.maskKey });
process.stdout.write(`${JSON.stringify({ port: pg.port })}\n`);

function summary() {
  const s = [...waits].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { decisions: s.length, evidenceWaitMs: { mean, p50: at(0.5), p90: at(0.9), p99: at(0.99) }, events: Object.fromEntries(events) };
}

process.once('SIGTERM', () => {
  void (async () => {
    await pg.close();
    await runtime.close();
    process.stdout.write(`${JSON.stringify(summary())}\n`);
    process.exit(0);
  })();
});
