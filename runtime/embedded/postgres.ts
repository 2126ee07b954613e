/**
 * Starts a private PostgreSQL server on 127.0.0.1 for development, demos and tests: SCRAM-only
 * over TCP, a Unix socket in a private directory, and nothing shared with a system instance.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { PortcullisError } from '../errors.ts';
import { binariesMajorVersion, findPostgresBinaries } from './binaries.ts';
import { ensureLocalTls, type LocalTlsFiles } from './tls.ts';

export { loadSampleData } from './sample-data.ts';

export interface StartLocalPostgresOptions {
  dataDir: string;
  /** 0 or undefined picks a free port. */
  port?: number;
  /** Password of the superuser `postgres`. */
  password: string;
  /** Keep the data directory on stop and fsync writes; otherwise it is throwaway. */
  persistent?: boolean;
  /** log_statement = 'all' into `logFile`. */
  logStatements?: boolean;
  /**
   * Create md5_user / trust_user / plain_user (with `password`) and the pg_hba lines that give them
   * md5, trust and cleartext-password authentication. Default: only when not persistent, since a
   * trust line has no place in a long-lived server.
   */
  testRoles?: boolean;
  /** Serve TLS with a certificate from a local throwaway CA (see `tls.caPem`). */
  ssl?: boolean;
  onProgress?: (msg: string) => void;
}

/** Roles that exercise the backend authentication methods other than SCRAM. */
export const TEST_ROLES = { md5: 'md5_user', trust: 'trust_user', password: 'plain_user' } as const;

export interface LocalPostgres {
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  database: string;
  url: string;
  socketDir: string;
  dataDir: string;
  /** Server log; statements too when `logStatements`. */
  logFile: string;
  majorVersion: number;
  /** Whether the md5_user / trust_user / plain_user roles exist (their password is `password`). */
  testRoles: boolean;
  /** Present when started with `ssl`: the server certificate is for localhost and 127.0.0.1. */
  tls?: { caPem: string; caFile: string };
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** initdb and postgres refuse to run as root, so as root they run as an unprivileged account. */
function runAsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      if (Number.isInteger(uid) && uid > 0) return { uid, gid, name };
    } catch {
      // account absent: try the next one
    }
  }
  throw new PortcullisError('failed_precondition', 'running as root, and there is no postgres or nobody account to run PostgreSQL as', {
    details: { hint: 'create one with: useradd --system postgres' },
  });
}

export async function freeTcpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

async function own(path: string, runAs: RunAs | undefined): Promise<void> {
  if (runAs) await chown(path, runAs.uid, runAs.gid);
}

function pgEnv(): NodeJS.ProcessEnv {
  // Inherited PG* variables (PGHOST, PGPORT...) would silently steer initdb or the server elsewhere.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: pgEnv(),
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

function hbaConf(testRoles: boolean): string {
  const lines = ['# Written by Portcullis. The socket directory is private, so local trust reaches only its owner.', 'local all all trust'];
  if (testRoles) {
    lines.push(`host all ${TEST_ROLES.md5} 127.0.0.1/32 md5`, `host all ${TEST_ROLES.trust} 127.0.0.1/32 trust`, `host all ${TEST_ROLES.password} 127.0.0.1/32 password`);
  }
  lines.push('host all all 127.0.0.1/32 scram-sha-256', '');
  return lines.join('\n');
}

async function initialise(bins: ReturnType<typeof findPostgresBinaries>, dataDir: string, scratchDir: string, opts: StartLocalPostgresOptions, runAs: RunAs | undefined): Promise<void> {
  // Parents get the usual mode so the account PostgreSQL runs as can traverse them; only the
  // cluster directory itself is private.
  await mkdir(dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await own(dataDir, runAs);
  const pwfile = join(scratchDir, 'pwfile');
  await writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
  await own(pwfile, runAs);
  const args = ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256'];
  if (!opts.persistent) args.push('--no-sync');
  const { code, output } = await run(bins.initdb, args, runAs);
  await rm(pwfile, { force: true });
  if (code !== 0) {
    const lines = output.trim().split('\n');
    const errors = lines.filter((l) => /error|fatal/i.test(l));
    const why = (errors.length ? errors : lines.slice(-3)).join(' ');
    throw new PortcullisError('failed_precondition', `initdb failed for ${dataDir} (exit ${code}): ${why}`, {
      details: { hint: runAs ? `the ${runAs.name} account must be able to reach ${dataDir} (check the permissions of its parent directories)` : undefined },
    });
  }
}

function serverArgs(dataDir: string, port: number, socketDir: string, opts: StartLocalPostgresOptions, tls: LocalTlsFiles | undefined): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: socketDir,
    unix_socket_permissions: '0700',
    password_encryption: 'scram-sha-256',
    hba_file: join(dataDir, 'pg_hba.conf'),
    max_connections: '300',
    shared_buffers: '32MB',
    lc_messages: 'C',
    log_line_prefix: '%m [%p] %q%u@%d ',
    log_statement: opts.logStatements ? 'all' : 'none',
    logging_collector: 'off',
  };
  if (tls) {
    Object.assign(settings, { ssl: 'on', ssl_cert_file: tls.certFile, ssl_key_file: tls.keyFile, ssl_ca_file: tls.caFile });
  }
  if (!opts.persistent) {
    Object.assign(settings, { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' });
  }
  const args = ['-D', dataDir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  return args;
}

async function readTail(file: string, from: number): Promise<string> {
  try {
    return (await readFile(file)).subarray(from).toString('utf8');
  } catch {
    return '';
  }
}

/** Resolves once the server logs that it accepts connections; rejects with its last log lines if it exits. */
async function waitReady(child: ChildProcess, port: number, logFile: string, from: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    const text = await readTail(logFile, from);
    if (text.includes('database system is ready to accept connections')) return;
    if (exited !== undefined) {
      const last = text.trim().split('\n').slice(-4).join('\n');
      throw new PortcullisError('unavailable', `PostgreSQL on 127.0.0.1:${port} exited during startup (exit ${exited}):\n${last}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new PortcullisError('deadline_exceeded', `PostgreSQL did not become ready within ${timeoutMs} ms; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function livePid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function configureRoles(socketDir: string, port: number, password: string, testRoles: boolean): Promise<void> {
  const client = new pg.Client({ host: socketDir, port, user: SUPERUSER, database: 'postgres' });
  await client.connect();
  try {
    // Each start re-applies the password so a reused data directory follows the caller's secret.
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    await client.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${pg.escapeLiteral(password)}`);
    if (!testRoles) return;
    for (const [method, role] of Object.entries(TEST_ROLES)) {
      // md5 authentication needs an md5-hashed secret: with a SCRAM one the server upgrades to SCRAM.
      await client.query(`SET password_encryption = '${method === 'md5' ? 'md5' : 'scram-sha-256'}'`);
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      const verb = exists.rowCount ? 'ALTER' : 'CREATE';
      await client.query(`${verb} ROLE ${role} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    }
  } finally {
    await client.end();
  }
}

export async function startLocalPostgres(opts: StartLocalPostgresOptions): Promise<LocalPostgres> {
  const progress = opts.onProgress ?? (() => {});
  const bins = findPostgresBinaries();
  const majorVersion = binariesMajorVersion(bins);
  const dataDir = resolve(opts.dataDir);
  const runAs = runAsUser();
  const testRoles = opts.testRoles ?? !opts.persistent;
  progress(`using PostgreSQL ${majorVersion} (${bins.source}, ${bins.bindir})${runAs ? `, running as ${runAs.name}` : ''}`);

  const socketDir = await mkdtemp(join(tmpdir(), 'pc-pg-'));
  await own(socketDir, runAs);
  let child: ChildProcess | undefined;
  const versionFile = join(dataDir, 'PG_VERSION');
  const fresh = !existsSync(versionFile);
  try {
    if (fresh) {
      progress(`initialising ${dataDir}`);
      await initialise(bins, dataDir, socketDir, opts, runAs);
    } else {
      const dataVersion = Number((await readFile(versionFile, 'utf8')).trim());
      if (dataVersion !== majorVersion) {
        throw new PortcullisError('failed_precondition', `${dataDir} holds a PostgreSQL ${dataVersion} cluster but the binaries are PostgreSQL ${majorVersion}`, {
          details: { hint: `remove ${dataDir} to start over, or set PORTCULLIS_PG_BINDIR to PostgreSQL ${dataVersion} binaries` },
        });
      }
      const pid = await livePid(dataDir);
      if (pid !== undefined) {
        throw new PortcullisError('failed_precondition', `${dataDir} is in use by a running PostgreSQL (pid ${pid})`, {
          details: { hint: 'stop the other server first, or use another data directory' },
        });
      }
      progress(`reusing the cluster in ${dataDir}`);
    }
    await writeFile(join(dataDir, 'pg_hba.conf'), hbaConf(testRoles));
    await own(join(dataDir, 'pg_hba.conf'), runAs);
    const logDir = join(dataDir, 'log');
    await mkdir(logDir, { recursive: true });
    const logFile = join(logDir, 'postgres.log');
    let tls: LocalTlsFiles | undefined;
    if (opts.ssl) {
      tls = await ensureLocalTls(join(dataDir, 'tls'));
      // PostgreSQL refuses a key that others can read, or that another account owns.
      for (const f of [tls.dir, tls.certFile, tls.keyFile, tls.caFile]) await own(f, runAs);
    }

    let port = opts.port ?? 0;
    for (let attempt = 1; ; attempt++) {
      const chosen = port || (await freeTcpPort());
      const log = await open(logFile, 'a');
      const from = (await log.stat()).size;
      progress(`starting PostgreSQL on 127.0.0.1:${chosen}`);
      child = spawn(bins.postgres, serverArgs(dataDir, chosen, socketDir, opts, tls), {
        stdio: ['ignore', log.fd, log.fd],
        env: pgEnv(),
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
      await log.close();
      try {
        await waitReady(child, chosen, logFile, from, 60_000);
        port = chosen;
        break;
      } catch (err) {
        // A port picked for us can be taken between the probe and the bind: pick another.
        const raced = !opts.port && attempt < 4 && /could not (bind|create any TCP\/IP sockets)/.test(String((err as Error).message));
        if (!raced) throw err;
      }
    }
    const server = child;
    const killOnExit = () => server.kill('SIGQUIT');
    process.once('exit', killOnExit);

    await configureRoles(socketDir, port, opts.password, testRoles);
    progress(`PostgreSQL ready on 127.0.0.1:${port}`);

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (server.exitCode === null && server.signalCode === null) {
          const exited = new Promise<void>((r) => server.once('exit', () => r()));
          server.kill('SIGINT'); // fast shutdown: roll back open transactions, close clients
          const timer = setTimeout(() => server.kill('SIGQUIT'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(socketDir, { recursive: true, force: true });
        if (!opts.persistent && fresh) await rm(dataDir, { recursive: true, force: true });
      })());

    const user = SUPERUSER;
    const database = 'postgres';
    return {
      host: '127.0.0.1',
      port,
      user,
      password: opts.password,
      database,
      url: `postgresql://${user}:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${database}`,
      socketDir,
      dataDir,
      logFile,
      majorVersion,
      testRoles,
      ...(tls ? { tls: { caPem: tls.caPem, caFile: tls.caFile } } : {}),
      stop,
    };
  } catch (err) {
    if (child && child.exitCode === null) child.kill('SIGQUIT');
    await rm(socketDir, { recursive: true, force: true });
    if (fresh && !opts.persistent) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
