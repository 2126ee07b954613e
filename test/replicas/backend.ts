/**
 * A dedicated backend PostgreSQL for replica tests, logging every statement and every connection
 * with its application_name, so a statement in the log can be traced to who sent it.
 *
 * `log_line_prefix` is fixed on the server's command line (which beats ALTER SYSTEM), so instead of
 * `%a` in the prefix the application comes from `log_connections`: each "connection authorized"
 * line names the pid's application_name, and every later statement of that pid is attributed to it.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadSampleData, startLocalPostgres, type LocalPostgres } from '../../runtime/embedded/postgres.ts';

export interface LoggedBackend {
  server: LocalPostgres;
  /** statements logged so far, with the application_name of the session that ran them */
  statements(): Promise<{ pid: string; app: string; sql: string }[]>;
  stop(): Promise<void>;
}

export async function startLoggedBackend(): Promise<LoggedBackend> {
  const base = await mkdtemp(join(tmpdir(), 'pc-backend-'));
  // As root, PostgreSQL runs as an unprivileged account that must traverse this directory.
  await chmod(base, 0o711);
  const server = await startLocalPostgres({ dataDir: join(base, 'data'), password: randomBytes(12).toString('base64url'), logStatements: true, testRoles: false });
  await loadSampleData(server);
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query('ALTER SYSTEM SET log_connections = on');
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  return {
    server,
    async statements() {
      const text = await readFile(server.logFile, 'utf8');
      const apps = new Map<string, string>();
      const out: { pid: string; app: string; sql: string }[] = [];
      for (const line of text.split('\n')) {
        const m = /\[(\d+)\] \S* ?LOG:  (connection authorized: .*|statement: .*)$/.exec(line);
        if (!m) continue;
        const [, pid, what] = m as unknown as [string, string, string];
        if (what.startsWith('connection authorized:')) {
          apps.set(pid, /application_name=(\S+)/.exec(what)?.[1] ?? '');
        } else {
          out.push({ pid, app: apps.get(pid) ?? '?', sql: what.slice('statement: '.length) });
        }
      }
      return out;
    },
    async stop() {
      await server.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}
