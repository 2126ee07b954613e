/**
 * The gateway under benchmark, as its own process so it gets a CPU of its own like PgBouncer does,
 * and so `node --cpu-prof` can profile it alone. It prints `{"port":N}` when ready; on SIGTERM it
 * prints its statistics and exits; on SIGUSR2 it prints them and starts counting afresh.
 *
 * Environment: BENCH_POLICIES, BENCH_DATA_DIR, and the target's password variable.
 */
import { open, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../runtime/gateway/start.ts';

const policies = process.env.BENCH_POLICIES;
const dataDir = process.env.BENCH_DATA_DIR;
if (!policies || !dataDir) throw new Error('BENCH_POLICIES and BENCH_DATA_DIR are required');

const events = new Map<string, number>();
// The gateway as `portcullis gateway` builds it, with only the PostgreSQL listener (the one measured).
// It listens before the probes below are installed; nothing connects until the port is printed.
const gw = await startGateway(
  {
    policies,
    dataDir,
    pgPort: 0,
    httpPort: 'off',
    adminPort: 'off',
    drainMs: 0,
    // The supported durability levels (gateway --evidence-durability): fsync (default) or write.
    evidence: { durability: process.env.BENCH_DURABILITY === 'write' ? 'write' : 'fsync' },
  },
  {
    // Per-session log lines would be the loudest thing in the run; count them instead.
    log: (event, fields) => {
      events.set(event, (events.get(event) ?? 0) + 1);
      if (event === 'bundle.rejected' || event.endsWith('.error')) process.stderr.write(`${event} ${JSON.stringify(fields)}\n`);
    },
  },
);
const { runtime } = gw;

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

// Reads go through the staged path (forwarded once written, rows held until durable): time until durable.
const recordDecisionStaged = recorder.recordDecisionStaged.bind(recorder);
recorder.recordDecisionStaged = (d) => {
  const t = performance.now();
  const staged = recordDecisionStaged(d);
  staged.durable.then(
    () => {
      if (waits.length < 2_000_000) waits.push(performance.now() - t);
    },
    () => undefined,
  );
  return staged;
};

// Counted at the prototypes so runtime code stays untouched: how many fdatasyncs the group commit
// issues (and how long each takes), and how many socket writes a statement costs.
const fsyncs: number[] = [];
const probePath = join(tmpdir(), `pc-bench-probe-${process.pid}`);
const probe = await open(probePath, 'w');
const fileHandleProto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
await probe.close();
await unlink(probePath);
const datasync = fileHandleProto.datasync;
// Diagnosis only (bench --diagnose): how fast would the gateway be if durability were free? Never a
// mode to run for real: it breaks "audit before action".
const skipFsync = process.env.BENCH_SKIP_FSYNC === '1';
fileHandleProto.datasync = async function (this: unknown) {
  if (skipFsync) return;
  const t = performance.now();
  try {
    return await datasync.call(this);
  } finally {
    if (fsyncs.length < 2_000_000) fsyncs.push(performance.now() - t);
  }
};
let socketWrites = 0;
const socketWrite = Socket.prototype.write;
Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
  socketWrites++;
  return (socketWrite as (...a: unknown[]) => boolean).apply(this, args);
} as typeof Socket.prototype.write;

process.stdout.write(`${JSON.stringify({ port: gw.pgPort })}\n`);

function spread(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { mean: s.reduce((a, b) => a + b, 0) / (s.length || 1), p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function summary() {
  return {
    decisions: waits.length,
    evidenceWaitMs: spread(waits),
    fsyncs: fsyncs.length,
    fsyncMs: spread(fsyncs),
    socketWrites,
    events: Object.fromEntries(events),
  };
}

// SIGUSR2: report and restart the counters, so each pgbench run gets its own numbers.
process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify(summary())}\n`);
  waits.length = 0;
  fsyncs.length = 0;
  socketWrites = 0;
});

process.once('SIGTERM', () => {
  void (async () => {
    await gw.stop();
    process.stdout.write(`${JSON.stringify(summary())}\n`);
    process.exit(0);
  })();
});
