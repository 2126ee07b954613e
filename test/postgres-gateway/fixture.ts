/**
 * A gateway under test, in-process: a copy of the example policy repo whose targets point at the
 * harness PostgreSQL (plus test identities and policies), a temp data dir, and the gateway as
 * startGateway builds it (bundle, dev issuer, evidence store, recorder) with only its PostgreSQL
 * listener, on a free port.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import type { PostgresGateway } from '../../runtime/protocols/postgres/listener.ts';
import { startGateway, type StartGatewayOptions } from '../../runtime/gateway/start.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { readEvidence } from '../../runtime/evidence/index.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { defaultPublicKeyFile } from '../../runtime/evidence/custody.ts';
import { pgInfo } from '../harness/postgres.ts';

export const run = promisify(execFile);

const PASSWORD_ENV = 'PORTCULLIS_TEST_SHOP_DB_PASSWORD';

function target(name: string, database: string, classified = true): string {
  const pg = pgInfo();
  return `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: ${name}, labels: { env: prod, system: shop } }
spec:
  type: postgres
  host: ${pg.host}
  port: ${pg.port}
  database: ${database}
  user: ${pg.user}
  password: { env: ${PASSWORD_ENV} }
${classified ? CLASSIFICATION : ''}`;
}

const CLASSIFICATION = `  classification:
    - name: pii
      columns: [customers.email, customers.phone, customer_contacts.email]
      strategy: partial
    - name: government-id
      columns: [customers.ssn]
      strategy: redact
    - name: payment
      columns: ["*.card_number"]
      strategy: partial
`;

/**
 * Test subjects, none in group `agents` (whose baseline denies admin and sets long session limits):
 * tester may do any DML and COPY, so masking is the only thing between it and the data;
 * root-tester may also run admin statements (pg_sleep, DO); capped has maxRows 3 and requireWhere;
 * limited has second-scale session limits.
 */
const TEST_POLICY = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: tester }
spec: { kind: agent, match: { subject: tester }, groups: [testers] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: root-tester }
spec: { kind: agent, match: { subject: root-tester }, groups: [testers, roots] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: capped }
spec: { kind: agent, match: { subject: capped }, groups: [capped] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: limited }
spec: { kind: agent, match: { subject: limited }, groups: [limited] }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-everything }
spec:
  subjects: [{ group: testers }]
  targets: [shop-db, scratch-db, plain-db]
  rules:
    - id: all-dml
      effect: allow
      actions: [select, insert, update, delete, copy, transaction, session]
      resources: ["*"]
    - id: no-ddl
      effect: deny
      actions: [ddl]
      resources: ["*"]
    - id: orders-delete-review
      effect: review
      actions: [delete]
      resources: [products]
      review: { approvers: { groups: [dba], count: 1 } }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-roots }
spec:
  subjects: [{ group: roots }]
  targets: [shop-db, scratch-db, plain-db]
  rules:
    - id: admin-too
      effect: allow
      actions: [admin]
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-capped }
spec:
  subjects: [{ group: capped }]
  targets: [shop-db, scratch-db]
  rules:
    - id: three-rows
      effect: allow
      actions: [select, transaction, session]
      resources: ["*"]
      when: { maxRows: 3 }
    - id: careful-writes
      effect: allow
      actions: [update, delete]
      resources: [orders]
      when: { requireWhere: true }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-limited }
spec:
  subjects: [{ group: limited }]
  targets: [shop-db]
  sessionLimits: { maxDuration: 4s, idleTimeout: 1500ms }
  rules:
    - id: read
      effect: allow
      actions: [select, transaction, session]
      resources: ["*"]
`;

export interface GatewayFixture {
  port: number;
  dir: string;
  dataDir: string;
  runtime: GatewayRuntime;
  gateway: PostgresGateway;
  /** the database the scratch-db target points at (when started with one) */
  scratch?: string;
  token(subject: string, ttl?: string): Promise<string>;
  /** node-postgres / libpq connection settings for a subject on a target */
  conn(subject: string, targetName?: string, ttl?: string): Promise<{ host: string; port: number; user: string; password: string; database: string }>;
  /** environment for psql/pgbench: PGHOST, PGPORT, PGPASSWORD... */
  env(subject: string, targetName?: string): Promise<NodeJS.ProcessEnv>;
  evidence(types?: string[]): Promise<{ type: string; seq: number; ts: string; data: any }[]>;
  logs: { event: string; [k: string]: unknown }[];
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** a database for the scratch-db target (writable copy created by the test) */
  scratch?: string;
  listener?: StartGatewayOptions['postgres'];
  /** extra repo files (path -> YAML) */
  files?: Record<string, string>;
}

export async function startGatewayFixture(opts: FixtureOptions = {}): Promise<GatewayFixture> {
  const pg = pgInfo();
  process.env[PASSWORD_ENV] = pg.password;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pg-gw-'));
  const repo = join(dir, 'policies');
  const dataDir = join(dir, 'data');
  await cp(resolve(import.meta.dirname, '../../policies'), repo, { recursive: true });
  await rm(join(repo, 'tests'), { recursive: true, force: true });
  await writeFile(join(repo, 'targets', 'shop-db.yaml'), target('shop-db', pg.sampleDatabase));
  await writeFile(join(repo, 'targets', 'scratch-db.yaml'), target('scratch-db', opts.scratch ?? pg.sampleDatabase));
  // the scratch copy again, with nothing classified: backend errors quoting data reach the
  // content detectors instead of being refused up front
  await writeFile(join(repo, 'targets', 'plain-db.yaml'), target('plain-db', opts.scratch ?? pg.sampleDatabase, false));
  await writeFile(join(repo, 'policies', 'test.yaml'), TEST_POLICY);
  for (const [path, text] of Object.entries(opts.files ?? {})) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  const logs: GatewayFixture['logs'] = [];
  // deliberately permissive test policies (allow-all DML for agents): not what the lint gate is tested on
  const gw = await startGateway(
    { policies: repo, dataDir, pgPort: 0, httpPort: 'off', adminPort: 'off', drainMs: 0 },
    { log: (event, fields) => void logs.push({ event, ...fields }), acceptLintErrors: true, ...(opts.listener ? { postgres: opts.listener } : {}) },
  ).catch((err: unknown) => {
    throw new Error(`the test gateway did not start: ${(err as Error).message} ${JSON.stringify(logs)}`, { cause: err });
  });
  const { runtime } = gw;
  const gateway = gw.postgres!;
  const token = async (subject: string, ttl = '15m') => (await issueToken({ dataDir, subject, ttl })).token;
  const conn = async (subject: string, targetName = 'shop-db', ttl?: string) => ({
    host: '127.0.0.1',
    port: gateway.port,
    user: subject,
    password: await token(subject, ttl),
    database: targetName,
  });
  return {
    port: gateway.port,
    dir,
    dataDir,
    runtime,
    gateway,
    ...(opts.scratch ? { scratch: opts.scratch } : {}),
    token,
    conn,
    async env(subject, targetName = 'shop-db') {
      const c = await conn(subject, targetName);
      return { ...process.env, PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGPASSWORD: c.password, PGDATABASE: c.database, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
    },
    async evidence(types) {
      const dir = join(dataDir, 'evidence');
      // Every read checks the chain too: a record whose JSON is not canonical fails its hash here.
      const verified = await verifyEvidence(dir, await readFile(defaultPublicKeyFile(dataDir), 'utf8'));
      if (!verified.ok) throw new Error(`the gateway's evidence does not verify: ${JSON.stringify(verified)}`);
      const out: { type: string; seq: number; ts: string; data: any }[] = [];
      for await (const r of readEvidence(dir, types ? { types } : {})) out.push(r as any);
      return out;
    },
    logs,
    async close() {
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** psql through the gateway: stdout and stderr together (where notices and errors go). */
export async function psql(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<{ code: number; out: string; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = execFile('psql', ['-X', '-v', 'ON_ERROR_STOP=0', ...args], { env, timeout: 20_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
      resolvePromise({ code, out: `${stdout}\n${stderr}`, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Lines the backend logged since `from` (a byte offset into the harness log file). */
export async function backendLogSince(from: number): Promise<string> {
  const buf = await readFile(pgInfo().logFile);
  return buf.subarray(from).toString('utf8');
}

export async function logOffset(): Promise<number> {
  return (await readFile(pgInfo().logFile)).length;
}
