/**
 * A gateway in this process for fail-closed tests: a copy of the example policy repo whose shop-db
 * target points where the test says (the harness PostgreSQL, or a proxy in front of it), the real
 * gateway (startGateway) with only its PostgreSQL listener, whatever config the test gives, and
 * evidence faults it injects. It starts even with no valid bundle or an unwritable store, so the
 * tests can watch it refuse.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import type { PostgresGateway } from '../../runtime/protocols/postgres/listener.ts';
import type { GatewayConfigInput } from '../../runtime/gateway/config.ts';
import { startGateway as startRunningGateway, type StartGatewayOptions } from '../../runtime/gateway/start.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { pgInfo } from '../harness/postgres.ts';

export interface Backend {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export function harnessBackend(): Backend {
  const info = pgInfo();
  return { host: info.host, port: info.port, database: info.sampleDatabase, user: info.user, password: info.password };
}

/** Copies policies/ into `dir`, pointing shop-db at `backend`; its password comes from SHOP_DB_PASSWORD as in production. */
export async function policyRepo(dir: string, backend: Backend): Promise<string> {
  const repo = join(dir, 'policies');
  await cp(resolve(import.meta.dirname, '../../policies'), repo, { recursive: true });
  await rm(join(repo, 'tests'), { recursive: true, force: true });
  const path = join(repo, 'targets', 'shop-db.yaml');
  const text = (await readFile(path, 'utf8'))
    .replace(/^  host: .*$/m, `  host: ${backend.host}`)
    .replace(/^  port: .*$/m, `  port: ${backend.port}`)
    .replace(/^  database: .*$/m, `  database: ${backend.database}`)
    .replace(/^  user: .*$/m, `  user: ${backend.user}`);
  await writeFile(path, text);
  process.env.SHOP_DB_PASSWORD = backend.password;
  return repo;
}

export interface Gateway {
  dir: string;
  repo: string;
  dataDir: string;
  runtime: GatewayRuntime;
  listener: PostgresGateway;
  port: number;
  logs: { event: string; [k: string]: unknown }[];
  /** an agent session (support-agent on shop-db); errors of the connection itself are swallowed */
  connect(subject?: string): Promise<pg.Client>;
  /** libpq environment for psql as `subject` */
  env(subject?: string): Promise<NodeJS.ProcessEnv>;
  close(): Promise<void>;
}

export async function startGateway(
  opts: {
    backend?: Backend;
    /** edit the repo before the gateway starts (e.g. break it) */
    prepare?: (repo: string) => Promise<void>;
    config?: GatewayConfigInput;
    /** evidence faults to inject (test/evidence/helpers.ts breakableDisk) */
    evidence?: StartGatewayOptions['evidence'];
  } = {},
): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-fail-closed-'));
  const repo = await policyRepo(dir, opts.backend ?? harnessBackend());
  await opts.prepare?.(repo);
  const dataDir = join(dir, 'data');
  const logs: Gateway['logs'] = [];
  const gw = await startRunningGateway(
    { policies: repo, dataDir, pgPort: 0, httpPort: 'off', adminPort: 'off', drainMs: 0, ...opts.config },
    { log: (event, fields) => void logs.push({ event, ...fields }), startUnready: true, ...(opts.evidence ? { evidence: opts.evidence } : {}) },
  );
  const { runtime } = gw;
  const listener = gw.postgres!;
  const token = async (subject: string) => (await issueToken({ dataDir, subject, ttl: '10m' })).token;
  const clients: pg.Client[] = [];
  return {
    dir,
    repo,
    dataDir,
    runtime,
    listener,
    port: listener.port,
    logs,
    async connect(subject = 'support-agent') {
      const c = new pg.Client({ host: '127.0.0.1', port: listener.port, user: subject, password: await token(subject), database: 'shop-db', connectionTimeoutMillis: 10_000 });
      c.on('error', () => undefined);
      clients.push(c);
      await c.connect();
      return c;
    },
    async env(subject = 'support-agent') {
      return {
        ...process.env,
        PGHOST: '127.0.0.1',
        PGPORT: String(listener.port),
        PGUSER: subject,
        PGPASSWORD: await token(subject),
        PGDATABASE: 'shop-db',
        PGSSLMODE: 'disable',
        PGCONNECT_TIMEOUT: '10',
      };
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.end()));
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What a failed connect or query told the agent: SQLSTATE, severity and message. */
export async function failure(p: Promise<unknown>): Promise<{ code: string; severity: string; message: string; hint?: string }> {
  try {
    await p;
  } catch (error) {
    const e = error as { code?: string; severity?: string; message: string; hint?: string };
    return { code: e.code ?? '', severity: e.severity ?? '', message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  }
  throw new Error('expected a failure, but it succeeded');
}

/** Lines the harness backend logged since `from` (byte offset). */
export async function backendLog(from = 0, file = pgInfo().logFile): Promise<string> {
  return (await readFile(file)).subarray(from).toString('utf8');
}

export async function backendLogSize(file = pgInfo().logFile): Promise<number> {
  return (await readFile(file)).length;
}

export function marker(label: string): string {
  return `fc_${label}_${Math.random().toString(36).slice(2, 10)}`;
}
