/**
 * The Portcullis gateway as pgbench sees it: a throwaway policy repo whose postgres target is the
 * bench's server, an agent allowed to read the pgbench tables, a classified column on the table
 * it reads (so masking is live on every result), recording on, and a dev-issuer token as password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { issueToken } from '../runtime/identity/dev-key.ts';

export const TARGET = 'bench-db';
const PASSWORD_ENV = 'PORTCULLIS_BENCH_DB_PASSWORD';

export interface Spread {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface GatewayStats {
  decisions: number;
  evidenceWaitMs: Spread;
  /** fdatasync calls of the evidence store, and each one's duration */
  fsyncs: number;
  fsyncMs: Spread;
  /** writes on every socket of the gateway process (agent and backend sides) */
  socketWrites: number;
  events: Record<string, number>;
}

export interface BenchGateway {
  port: number;
  token: string;
  dataDir: string;
  /** the gateway process's id (for CPU accounting) */
  pid: number;
  /** statistics since the previous snapshot */
  snapshot(): Promise<GatewayStats>;
  /** stops the process; returns its statistics since the last snapshot */
  stop(): Promise<{ stats?: GatewayStats }>;
}

function policyRepo(backend: { port: number; database: string; user: string }): Record<string, string> {
  const h = 'apiVersion: portcullis.dev/v1';
  return {
    'portcullis.yaml': `${h}\nkind: Repository\nmetadata: { name: bench }\n`,
    'targets/bench-db.yaml': `${h}
kind: Target
metadata: { name: ${TARGET} }
spec:
  type: postgres
  host: 127.0.0.1
  port: ${backend.port}
  database: ${backend.database}
  user: ${backend.user}
  password: { env: ${PASSWORD_ENV} }
  classification:
    - name: internal
      columns: [pgbench_accounts.filler, pgbench_history.filler]
      strategy: redact
`,
    'identities/agents.yaml': `${h}
kind: Identity
metadata: { name: bench-agent }
spec: { kind: agent, match: { subject: bench-agent }, groups: [agents] }
`,
    'policies/bench.yaml': `${h}
kind: Policy
metadata: { name: bench-read }
spec:
  subjects: [{ group: agents }]
  targets: [${TARGET}]
  sessionLimits: { maxDuration: 8h, idleTimeout: 30m }
  rules:
    - id: drivers
      effect: allow
      actions: [transaction, session]
    - id: read-pgbench
      effect: allow
      actions: [select]
      resources: [pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history]
    - id: no-writes
      effect: deny
      actions: [insert, update, delete, ddl, copy]
      resources: ["*"]
`,
  };
}

export async function startBenchGateway(
  backend: { port: number; database: string; user: string; password: string },
  opts: { profileDir?: string; skipFsync?: boolean; durability?: 'fsync' | 'write' },
): Promise<BenchGateway> {
  const root = await mkdtemp(join(tmpdir(), 'pc-bench-gateway-'));
  const policies = join(root, 'policies');
  for (const [path, text] of Object.entries(policyRepo(backend))) {
    await mkdir(dirname(join(policies, path)), { recursive: true });
    await writeFile(join(policies, path), text);
  }
  const dataDir = join(root, 'data');
  await mkdir(dataDir, { recursive: true });
  const { token } = await issueToken({ dataDir, subject: 'bench-agent', ttl: '4h' });

  const script = join(dirname(fileURLToPath(import.meta.url)), 'gateway-child.ts');
  const profile = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []), '--import', import.meta.resolve('tsx'), script], {
    env: {
      ...process.env,
      BENCH_POLICIES: policies,
      BENCH_DATA_DIR: dataDir,
      [PASSWORD_ENV]: backend.password,
      BENCH_SKIP_FSYNC: opts.skipFsync ? '1' : '0',
      BENCH_DURABILITY: opts.durability ?? 'fsync',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the gateway process exited (${code}) before it was ready:\n${stderr.trim()}`));
      child.once('exit', onExit);
      lines.once('line', (l) => (child.off('exit', onExit), resolve(l)));
    });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  let port: number;
  try {
    port = (JSON.parse(await nextLine()) as { port: number }).port;
  } catch (err) {
    kill();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    token,
    dataDir,
    pid: child.pid!,
    async snapshot() {
      const line = nextLine();
      child.kill('SIGUSR2');
      return JSON.parse(await line) as GatewayStats;
    },
    async stop() {
      process.off('exit', kill);
      const statsLine = nextLine().catch(() => undefined);
      child.kill('SIGTERM');
      const line = await Promise.race([statsLine, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        if (!line) child.kill('SIGKILL');
        await exited;
      }
      await rm(root, { recursive: true, force: true });
      return line ? { stats: JSON.parse(line) as GatewayStats } : {};
    },
  };
}
