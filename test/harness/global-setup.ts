/**
 * One PostgreSQL for the whole test run: starting a cluster costs about half a second, loading the
 * sample data a little more, so per-file servers would dominate the suite's time. Never the
 * machine's own server on 5432: tests get a private one on a free port.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadSampleData, startLocalPostgres, TEST_ROLES, type LocalPostgres } from '../../runtime/embedded/postgres.ts';
import type { HarnessPostgres } from './context.ts';
import './context.ts';

let server: LocalPostgres | undefined;
let baseDir: string | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  baseDir = await mkdtemp(join(tmpdir(), 'portcullis-test-'));
  // As root, PostgreSQL runs as an unprivileged account that must traverse this directory.
  await chmod(baseDir, 0o711);
  const password = randomBytes(12).toString('base64url');
  const log = process.env.PORTCULLIS_TEST_VERBOSE ? (m: string) => console.log(`[test postgres] ${m}`) : undefined;
  server = await startLocalPostgres({
    dataDir: join(baseDir, 'data'),
    password,
    persistent: false,
    logStatements: true,
    testRoles: true,
    ...(log ? { onProgress: log } : {}),
  });
  await loadSampleData(server);
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE shop_template TEMPLATE shop STRATEGY FILE_COPY');
    await admin.query('ALTER DATABASE shop_template WITH IS_TEMPLATE true');
  } finally {
    await admin.end();
  }

  const info: HarnessPostgres = {
    host: server.host,
    port: server.port,
    user: server.user,
    password,
    database: server.database,
    sampleDatabase: 'shop',
    templateDatabase: 'shop_template',
    url: `postgresql://${server.user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/shop`,
    socketDir: server.socketDir,
    logFile: server.logFile,
    majorVersion: server.majorVersion,
    testRoles: { ...TEST_ROLES },
    testRolePassword: password,
  };
  project.provide('pg', info);

  return async () => {
    await server?.stop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  };
}
