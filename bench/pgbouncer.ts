/**
 * A private PgBouncer in front of the bench's PostgreSQL: its own ini and userlist in a temp dir,
 * session pooling (PgBouncer 1.18 breaks `pgbench -M prepared` in transaction mode), and run as
 * an unprivileged account when we are root, since PgBouncer refuses to run as root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { freeTcpPort } from '../runtime/embedded/postgres.ts';

export interface Bouncer {
  port: number;
  /** set when the bench had to install it */
  installed: boolean;
  stop(): Promise<void>;
}

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ensureInstalled(say: (m: string) => void): boolean {
  if (onPath('pgbouncer')) return false;
  say('pgbouncer is not on PATH: installing the Debian package (apt-get install -y pgbouncer)');
  execFileSync('apt-get', ['install', '-y', 'pgbouncer'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!onPath('pgbouncer')) throw new Error('apt-get installed pgbouncer but it is still not on PATH');
  return true;
}

function unprivileged(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (uid > 0) return { uid, gid };
    } catch {
      // no such account: try the next
    }
  }
  throw new Error('running as root with no postgres or nobody account for PgBouncer to run as');
}

async function waitListening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pgbouncer did not listen on ${port} within 10 s:\n${log()}`);
}

export async function startPgbouncer(backend: { port: number; database: string; user: string; password: string }, say: (m: string) => void): Promise<Bouncer> {
  const installed = ensureInstalled(say);
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-bouncer-'));
  const port = await freeTcpPort();
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  await writeFile(join(dir, 'userlist.txt'), `${quote(backend.user)} ${quote(backend.password)}\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${backend.database} = host=127.0.0.1 port=${backend.port} dbname=${backend.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      'max_client_conn = 200',
      'default_pool_size = 32',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  const as = unprivileged();
  if (as) for (const f of [dir, join(dir, 'userlist.txt'), join(dir, 'pgbouncer.ini')]) await chown(f, as.uid, as.gid);
  let output = '';
  const child = spawn('pgbouncer', [join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'], ...(as ?? {}) });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  try {
    await waitListening(port, child, () => output);
  } catch (err) {
    kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    installed,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
