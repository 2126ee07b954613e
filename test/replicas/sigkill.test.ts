/**
 * Two gateway replicas (child processes) share one PostgreSQL state store behind a round-robin TCP
 * balancer; pgbench runs through the balancer and one replica is SIGKILLed mid-load. Afterwards
 * every statement the backend executed for an agent has its decision record in the one shared
 * chain, the chain verifies, and the survivor serves on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevIssuer, issueToken } from '../../runtime/identity/dev-key.ts';
import { readPostgresEvidence, verifyPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { freePort } from '../harness/postgres.ts';
import { startTsx, type RunningProcess } from '../harness/processes.ts';
import { gatewayOptions } from '../../cli/commands/gateway.ts';
import { policyRepo } from '../fail-closed/fixture.ts';
import { startLoggedBackend, type LoggedBackend } from './backend.ts';
import { createStateDatabase, type StateDatabase } from './state-db.ts';
import { startBalancer, type Balancer } from './tcp-balancer.ts';

let dir: string;
let backend: LoggedBackend;
let state: StateDatabase;
let lb: Balancer | undefined;
const replicas: RunningProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-replicas-'));
  [backend, state] = await Promise.all([startLoggedBackend(), createStateDatabase()]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(replicas.map((r) => r.stop()));
  await lb?.close();
  await backend?.stop();
  await state?.drop();
  await rm(dir, { recursive: true, force: true });
});

interface PgbenchRun {
  code: number;
  out: string;
  /** "number of transactions actually processed" */
  processed: number;
  failed: number;
}

function pgbench(env: NodeJS.ProcessEnv, script: string, args: string[]): Promise<PgbenchRun> {
  return new Promise((resolve) => {
    execFile('pgbench', ['-n', '-M', 'simple', '-f', script, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const out = `${stdout}\n${stderr}`;
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
      const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({ code, out, processed, failed });
    });
  });
}

async function startReplica(name: string, port: number, repo: string, dataDir: string, keyFile: string): Promise<RunningProcess> {
  // Only the PostgreSQL listener: two replicas on one host would fight over the other default ports.
  const off = ['http-port', 'admin-port'].filter((o) => o in gatewayOptions).flatMap((o) => [`--${o}`, 'off']);
  const p = await startTsx('cli/portcullis.ts', [
    'gateway',
    '--policies',
    repo,
    '--no-watch',
    '--data-dir',
    dataDir,
    '--pg-port',
    String(port),
    ...off,
    '--state',
    state.url,
    '--replica',
    name,
    '--evidence-key',
    keyFile,
  ]);
  let exited = false;
  void p.exited.then(() => (exited = true));
  // The ready line goes to stderr (stdout stays free for the operator's pipes).
  await expect.poll(() => exited || /portcullis gateway ready/.test(p.stderr()), { timeout: 30_000, interval: 100 }).toBe(true);
  if (exited) throw new Error(`replica ${name} exited before it was ready:\n${p.stderr()}`);
  return p;
}

describe('two replicas, one state store, SIGKILL mid-load', () => {
  it('records every executed statement in one valid chain, and the survivor serves on', async () => {
    const repo = await policyRepo(dir, { host: '127.0.0.1', port: backend.server.port, database: 'shop', user: backend.server.user, password: backend.server.password });
    // A git repo, so the replicas can be shown to run the same commit.
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();
    git('init', '--quiet');
    git('add', '-A');
    git('commit', '--quiet', '-m', 'policies');
    const commit = git('rev-parse', 'HEAD');

    // Replicas share what must be the same on all of them: the token issuer, the masking key and
    // the checkpoint signing key. Created up front so two first starts cannot race to create them.
    const dataDir = join(dir, 'data');
    await ensureDevIssuer(dataDir);
    await writeFile(join(dataDir, 'mask.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = join(dir, 'evidence-key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const [portA, portB] = [await freePort(), await freePort()];
    const [a, b] = await Promise.all([startReplica('replica-a', portA, repo, dataDir, keyFile), startReplica('replica-b', portB, repo, dataDir, keyFile)]);
    replicas.push(a, b);
    for (const r of [a, b]) expect(r.stderr()).toContain(`(policy ${commit.slice(0, 7)})`);
    lb = await startBalancer([
      { host: '127.0.0.1', port: portA },
      { host: '127.0.0.1', port: portB },
    ]);

    const script = join(dir, 'read.sql');
    // A random tag makes nearly every statement text unique, so log lines and records pair up.
    await writeFile(script, '\\set id random(1, 5)\n\\set tag random(1, 1000000000)\nselect name, price, :tag as tag from products where id = :id\n');
    const token = (await issueToken({ dataDir, subject: 'support-agent', ttl: '10m' })).token;
    const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(lb.port), PGUSER: 'support-agent', PGPASSWORD: token, PGDATABASE: 'shop-db', PGSSLMODE: 'disable' };

    const load = pgbench(env, script, ['-c', '4', '-j', '2', '-T', '6']);
    // Kill once both replicas are demonstrably serving (not on a timer a slow machine could outrun).
    const serving = async () => {
      const r = await state.sql(`SELECT replica, count(*)::int AS n FROM portcullis_evidence WHERE type = 'decision' GROUP BY replica`);
      return r.rows.length === 2 && r.rows.every((row) => row.n >= 50);
    };
    await expect.poll(serving, { timeout: 4000, interval: 100 }).toBe(true);
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const during = await load;
    // Clients whose connection was on the killed replica abort; the others run to the end.
    expect(during.processed).toBeGreaterThan(0);
    expect(during.out).toMatch(/aborted|Run was aborted|terminated/);
    expect(Date.now() - killedAt).toBeGreaterThan(1000); // the survivor carried load after the kill

    // After the kill: every connection lands on the survivor (the balancer redispatches refused ones).
    const after = await pgbench(env, script, ['-c', '4', '-j', '2', '-T', '2']);
    expect(after.code, after.out).toBe(0);
    expect(after.failed).toBe(0);
    expect(after.processed).toBeGreaterThan(10);

    await b.stop(); // SIGTERM: the survivor signs the head on its way out

    // Every agent statement the backend ran has an allow decision for exactly that text.
    const executed = (await backend.statements()).filter((s) => s.app === 'portcullis:pgbench').map((s) => s.sql.trim());
    expect(executed.length).toBeGreaterThan(during.processed);
    const allowed = new Map<string, number>();
    const writers = new Set<string>();
    const loadedCommits = new Set<string>();
    for await (const r of readPostgresEvidence(state.url, { types: ['decision', 'bundle.loaded'] })) {
      const data = r.data as { request?: { statement?: { text?: string } }; decision?: { effect?: string }; revision?: { commit?: string } };
      if (r.type === 'bundle.loaded') {
        loadedCommits.add(String(data.revision?.commit));
        continue;
      }
      writers.add(r.replica);
      if (data.decision?.effect !== 'allow') continue;
      const text = String(data.request?.statement?.text).trim();
      allowed.set(text, (allowed.get(text) ?? 0) + 1);
    }
    const unrecorded: string[] = [];
    for (const sql of executed) {
      const n = allowed.get(sql) ?? 0;
      if (n === 0) unrecorded.push(sql);
      else allowed.set(sql, n - 1);
    }
    if (process.env.PORTCULLIS_TEST_VERBOSE) {
      console.log(
        JSON.stringify({ during: { processed: during.processed, code: during.code }, after: { processed: after.processed }, executed: executed.length, allowDecisions: [...allowed.values()].length }),
      );
      console.log(during.out);
    }
    expect(unrecorded).toEqual([]);
    expect(writers).toEqual(new Set(['replica-a', 'replica-b']));
    expect(loadedCommits).toEqual(new Set([commit]));

    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const v = await verifyPostgresEvidence(state.url, pub, { requireSignedTail: true });
    expect(v.firstProblem).toBeUndefined();
    expect(v.ok).toBe(true);
    expect(v.replicas['replica-a']).toBeGreaterThan(0);
    expect(v.replicas['replica-b']).toBeGreaterThan(0);
  }, 90_000);
});
