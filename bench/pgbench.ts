/**
 * Runs `pgbench -S` and reads back what it reports. pgbench is the client every PostgreSQL
 * operator already trusts, so the numbers compare with anyone else's.
 */
import { spawn } from 'node:child_process';

export type PgbenchMode = 'simple' | 'extended' | 'prepared';

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string;
}

export interface PgbenchResult {
  tps: number;
  /** pgbench's "latency average", ms per transaction (one SELECT with -S) */
  latencyMs: number;
  transactions: number;
  failed: number;
}

export function pgEnv(e: Endpoint): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Inherited PG* variables (PGHOST, PGSSLMODE...) would quietly point the client elsewhere.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, PGHOST: e.host, PGPORT: String(e.port), PGUSER: e.user, PGDATABASE: e.database, PGPASSWORD: e.password, PGSSLMODE: 'disable' };
}

export function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.trim().split('\n').slice(-6).join('\n')}`))));
  });
}

export async function pgbenchSelect(e: Endpoint, mode: PgbenchMode, opts: { clients: number; threads: number; seconds: number }): Promise<PgbenchResult> {
  // -n: vacuuming is not what is measured, and the gateway's agent may not VACUUM anyway.
  const args = ['-n', '-S', '-M', mode, '-c', String(opts.clients), '-j', String(opts.threads), '-T', String(opts.seconds)];
  const out = await runTool('pgbench', args, pgEnv(e));
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const tps = num(/tps = ([\d.]+) \(without initial connection time\)/);
  if (!Number.isFinite(tps)) throw new Error(`cannot read pgbench's tps from:\n${out}`);
  return {
    tps,
    latencyMs: num(/latency average = ([\d.]+) ms/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/) || 0,
  };
}
