/**
 * Compatibility runner: the integration suites of node-postgres and postgres.js, run against a
 * private PostgreSQL directly and then through the gateway (a policy that allows everything), with
 * the pass counts side by side. Not part of `npm test`: it needs the two projects' sources.
 *
 *   NODE_POSTGRES_DIR=/path/to/node-postgres POSTGRESJS_DIR=/path/to/postgres npx tsx bench/compat.ts [--json]
 *
 * The checkouts are copied to a scratch folder and two harness lines patched there, so one failed
 * test does not stop the rest (each suite stops at its first failure by design): every test gets a
 * verdict both ways. Per-test results go to <scratch>/results.json; --json prints them instead.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../runtime/embedded/postgres.ts';
import { startGateway } from '../runtime/gateway/start.ts';
import { issueToken } from '../runtime/identity/dev-key.ts';

const PASSWORD_ENV = 'PORTCULLIS_COMPAT_PASSWORD';
/** databases the suites use, each a gateway target of the same name */
const NODE_PG_DB = 'node_pg_test';
const POSTGRESJS_DB = 'postgres_js_test';
/** every role a suite logs in as, each an identity (its token is the password through the gateway) */
const SUBJECTS = ['postgres', 'postgres_js_test', 'postgres_js_test_md5', 'postgres_js_test_scram'];

type Verdict = 'pass' | 'fail';
interface SuiteResult {
  /** test id -> verdict; tests that never ran (a crashed file) are absent */
  tests: Map<string, Verdict>;
}

interface Endpoint {
  host: string;
  port: number;
  /** user -> password */
  password: (user: string) => string;
}

function need(name: string): string {
  const v = process.env[name];
  if (!v || !existsSync(v)) {
    process.stderr.write(`compat: set ${name} to a local checkout (see docs/postgres-gateway.md, "Compatibility runner")\n`);
    process.exit(2);
  }
  return resolve(v);
}

// ---- node-postgres -------------------------------------------------------------------------

/** Its suite exits the process at a test's first failure; the copy reports the failure and goes on. */
async function prepareNodePostgres(src: string, scratch: string): Promise<string> {
  const dir = join(scratch, 'node-postgres');
  await cp(join(src, 'packages', 'pg'), dir, { recursive: true, filter: (p) => !p.includes('node_modules') });
  const suite = join(dir, 'test', 'suite.js');
  const text = await readFile(suite, 'utf8');
  const patched = text.replace(/process\.stdout\.write\(`FAILED!\\n\\n\$\{err\.stack\}\\n`\)\n\s*process\.exit\(-1\)/, 'process.stdout.write(`FAILED!\\n\\n${err.stack}\\n`)\n        return cb()');
  if (patched === text) throw new Error('compat: node-postgres test/suite.js changed shape; update the patch in bench/compat.ts');
  await writeFile(suite, patched);
  return dir;
}

/** The suite's dependencies as its package.json pins them (pg's own, and the test helpers'). */
const NODE_POSTGRES_DEPS = ['async@2.6.4', 'bluebird@3.7.2', 'co@4.6.0', 'pg-copy-streams@0.3.0', 'pg-types@2.2.0', 'pgpass@1.0.5', 'pg-protocol', 'pg-pool', 'pg-connection-string', 'pg-cloudflare'];

async function installNodePostgresDeps(scratch: string): Promise<string> {
  const prefix = join(scratch, 'node-postgres-deps');
  await mkdir(prefix, { recursive: true });
  await writeFile(join(prefix, 'package.json'), '{ "private": true }\n');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--silent', ...NODE_POSTGRES_DEPS], { cwd: prefix, stdio: ['ignore', 'ignore', 'inherit'] });
  return join(prefix, 'node_modules');
}

async function integrationFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('-tests.js')) out.push(p);
    }
  };
  await walk(join(dir, 'test', 'integration'));
  // COMPAT_ONLY=error-handling runs the files whose path contains it (to look at one difference)
  const only = process.env.COMPAT_ONLY;
  return out.sort().filter((f) => !only || f.includes(only));
}

function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolvePromise(out);
    });
  });
}

async function runNodePostgres(dir: string, deps: string, at: Endpoint, user: string): Promise<SuiteResult> {
  const tests = new Map<string, Verdict>();
  const env = {
    ...process.env,
    NODE_PATH: deps,
    PGHOST: at.host,
    PGPORT: String(at.port),
    PGUSER: user,
    PGPASSWORD: at.password(user),
    PGDATABASE: NODE_PG_DB,
    PGSSLMODE: 'disable',
    TEST_TIMEOUT: '10000',
  };
  for (const file of await integrationFiles(dir)) {
    const name = relative(join(dir, 'test', 'integration'), file);
    const out = await runNode([file], dir, env, 120_000);
    if (process.env.COMPAT_VERBOSE) process.stderr.write(out);
    for (const line of out.split('\n')) {
      const m = /^ {2}(.+) (✔|FAILED!)$/.exec(line);
      if (m) tests.set(`${name} > ${m[1]}`, m[2] === '✔' ? 'pass' : 'fail');
    }
  }
  return { tests };
}

// ---- postgres.js ---------------------------------------------------------------------------

/** Its harness ignores every test after the first failure; the copy runs them all. */
async function preparePostgresJs(src: string, scratch: string): Promise<string> {
  const dir = join(scratch, 'postgres');
  await cp(src, dir, { recursive: true, filter: (p) => !p.includes('node_modules') && !p.includes('.git') });
  const testJs = join(dir, 'tests', 'test.js');
  let text = await readFile(testJs, 'utf8');
  const before = text;
  text = text.replace(/failed\s*\n\s*\? \(ignored\+\+, ignore\)\s*\n\s*: fn\(\)/, 'fn()');
  // the verdict of each test, one line each, for counting
  text = text.replace('tests[line].succeeded = true', "tests[line].succeeded = true; console.log('\\nCOMPAT pass ' + line + ' ' + tests[line].name)");
  text = text.replace('tests[line].failed = failed = true', "tests[line].failed = failed = true; console.log('\\nCOMPAT fail ' + line + ' ' + tests[line].name)");
  if (text === before || !text.includes('COMPAT fail')) throw new Error('compat: postgres.js tests/test.js changed shape; update the patch in bench/compat.ts');
  await writeFile(testJs, text);
  // The runner prepares roles and the database itself (bootstrap.js would run psql against whatever
  // PG* points at, which through the gateway is the gateway): keep only its exec() helper.
  const boot = join(dir, 'tests', 'bootstrap.js');
  const lines = (await readFile(boot, 'utf8')).split('\n');
  await writeFile(boot, lines.filter((l) => !/^exec\(/.test(l)).join('\n'));
  return dir;
}

async function runPostgresJs(dir: string, at: Endpoint): Promise<SuiteResult> {
  const tests = new Map<string, Verdict>();
  const env = { ...process.env, PGHOST: at.host, PGPORT: String(at.port), PGUSER: 'postgres_js_test', PGPASSWORD: at.password('postgres_js_test'), PGDATABASE: POSTGRESJS_DB };
  const out = await runNode(['tests/index.js'], dir, env, 600_000);
  for (const line of out.split('\n')) {
    const m = /^COMPAT (pass|fail) (\d+) (.*)$/.exec(line);
    if (m) tests.set(`${m[3]} (line ${m[2]})`, m[1] as Verdict);
  }
  return { tests };
}

// ---- the server, the gateway --------------------------------------------------------------

async function prepareServer(server: LocalPostgres): Promise<void> {
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  try {
    const q = (sql: string) => admin.query(sql);
    await q(`CREATE DATABASE ${NODE_PG_DB}`);
    await q('CREATE USER postgres_js_test');
    await q("SET password_encryption = 'md5'");
    await q("CREATE USER postgres_js_test_md5 WITH PASSWORD 'postgres_js_test_md5'");
    await q("SET password_encryption = 'scram-sha-256'");
    await q("CREATE USER postgres_js_test_scram WITH PASSWORD 'postgres_js_test_scram'");
    await q(`CREATE DATABASE ${POSTGRESJS_DB} OWNER postgres_js_test`);
    await q(`GRANT ALL ON DATABASE ${POSTGRESJS_DB} TO postgres_js_test`);
  } finally {
    await admin.end();
  }
  // postgres.js logs in as postgres_js_test without a password (its own CI trusts it) and as the
  // md5 and scram users with theirs.
  // Before the file's own lines: the first matching line decides.
  const hba = join(server.dataDir, 'pg_hba.conf');
  await writeFile(hba, `host all postgres_js_test 127.0.0.1/32 trust\nhost all postgres_js_test_md5 127.0.0.1/32 md5\n${await readFile(hba, 'utf8')}`);
  execFileSync('psql', ['-h', server.socketDir, '-p', String(server.port), '-U', server.user, '-d', 'postgres', '-qc', 'SELECT pg_reload_conf()']);
}

function policyFiles(server: LocalPostgres): Record<string, string> {
  const h = 'apiVersion: portcullis.dev/v1';
  const files: Record<string, string> = { 'portcullis.yaml': `${h}\nkind: Repository\nmetadata: { name: compat }\n` };
  for (const db of [NODE_PG_DB, POSTGRESJS_DB]) {
    files[`targets/${db}.yaml`] = `${h}
kind: Target
metadata: { name: ${db} }
spec: { type: postgres, host: 127.0.0.1, port: ${server.port}, database: ${db}, user: ${server.user}, password: { env: ${PASSWORD_ENV} } }
`;
  }
  files['identities/suites.yaml'] = SUBJECTS.map((s) => `${h}\nkind: Identity\nmetadata: { name: ${s.replace(/_/g, '-')} }\nspec: { kind: agent, match: { subject: ${s} }, groups: [suites] }\n`).join(
    '---\n',
  );
  files['policies/everything.yaml'] = `${h}
kind: Policy
metadata: { name: everything }
spec:
  subjects: [{ group: suites }]
  targets: [${NODE_PG_DB}, ${POSTGRESJS_DB}]
  rules:
    - id: all
      effect: allow
      actions: [select, insert, update, delete, copy, transaction, session, ddl, admin]
`;
  return files;
}

async function main(): Promise<void> {
  const nodePostgres = need('NODE_POSTGRES_DIR');
  const postgresJs = need('POSTGRESJS_DIR');
  const json = process.argv.includes('--json');
  const scratch = await mkdtemp(join(tmpdir(), 'portcullis-compat-'));
  await chmod(scratch, 0o711);
  const say = (m: string) => process.stderr.write(`compat: ${m}\n`);

  const password = randomBytes(12).toString('base64url');
  say(`starting PostgreSQL under ${scratch}`);
  const server = await startLocalPostgres({ dataDir: join(scratch, 'pgdata'), password, persistent: false, ssl: true });
  try {
    await prepareServer(server);
    const nodeDir = await prepareNodePostgres(nodePostgres, scratch);
    say("installing the node-postgres suite's dependencies (npm)");
    const nodeDeps = await installNodePostgresDeps(scratch);
    const jsDir = await preparePostgresJs(postgresJs, scratch);

    const repo = join(scratch, 'policies');
    for (const [path, text] of Object.entries(policyFiles(server))) {
      await mkdir(join(repo, path, '..'), { recursive: true });
      await writeFile(join(repo, path), text);
    }
    process.env[PASSWORD_ENV] = password;
    const dataDir = join(scratch, 'gateway');
    // TLS with the server's own certificate (localhost, from the throwaway CA), so the suites' SSL
    // tests have something to connect to. Only the PostgreSQL listener: the suites speak nothing else.
    const tlsDir = join(server.dataDir, 'tls');
    const gw = await startGateway(
      { policies: repo, dataDir, watch: false, pgPort: 0, httpPort: 'off', adminPort: 'off', drainMs: 0, tls: { certFile: join(tlsDir, 'server.crt'), keyFile: join(tlsDir, 'server.key') } },
      { log: () => {} },
    );
    const gatewayPort = gw.pgPort!;
    const tokens = new Map<string, string>();
    for (const s of SUBJECTS) tokens.set(s, (await issueToken({ dataDir, subject: s, ttl: '4h' })).token);

    const direct: Endpoint = { host: '127.0.0.1', port: server.port, password: (u) => (u === 'postgres' ? password : u === 'postgres_js_test' ? '' : u) };
    const through: Endpoint = { host: '127.0.0.1', port: gatewayPort, password: (u) => tokens.get(u) ?? '' };

    const rows: { suite: string; direct: SuiteResult; gateway: SuiteResult }[] = [];
    say('node-postgres, directly');
    const npDirect = await runNodePostgres(nodeDir, nodeDeps, direct, 'postgres');
    await resetDatabase(server, NODE_PG_DB, server.user);
    say('node-postgres, through the gateway');
    const npGateway = await runNodePostgres(nodeDir, nodeDeps, through, 'postgres');
    rows.push({ suite: 'node-postgres', direct: npDirect, gateway: npGateway });
    if (process.env.COMPAT_SUITES === 'node-postgres') {
      rows.push({ suite: 'postgres.js', direct: { tests: new Map() }, gateway: { tests: new Map() } });
    } else {
      say('postgres.js, directly');
      const jsDirect = await runPostgresJs(jsDir, direct);
      await resetDatabase(server, POSTGRESJS_DB, 'postgres_js_test');
      say('postgres.js, through the gateway');
      const jsGateway = await runPostgresJs(jsDir, through);
      rows.push({ suite: 'postgres.js', direct: jsDirect, gateway: jsGateway });
    }

    await gw.stop();

    const report = rows.map((r) => {
      const passedDirect = [...r.direct.tests].filter(([, v]) => v === 'pass').map(([k]) => k);
      const lost = passedDirect.filter((k) => r.gateway.tests.get(k) !== 'pass');
      return {
        suite: r.suite,
        direct: `${passedDirect.length} / ${r.direct.tests.size}`,
        gateway: `${[...r.gateway.tests.values()].filter((v) => v === 'pass').length} / ${r.gateway.tests.size}`,
        passDirectNotThroughGateway: lost,
      };
    });
    await writeFile(join(scratch, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      process.stdout.write('| suite | directly | through the gateway |\n| --- | --- | --- |\n');
      for (const r of report) process.stdout.write(`| ${r.suite} | ${r.direct} | ${r.gateway} |\n`);
      for (const r of report) {
        process.stdout.write(`\n${r.suite}: passing directly, not through the gateway (${r.passDirectNotThroughGateway.length})\n`);
        for (const t of r.passDirectNotThroughGateway) process.stdout.write(`  - ${t}\n`);
      }
      say(`per-test results: ${join(scratch, 'results.json')}`);
    }
  } finally {
    await server.stop();
  }
}

/** The suites leave tables and types behind; the second run starts from a fresh database. */
async function resetDatabase(server: LocalPostgres, db: string, owner: string): Promise<void> {
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${db} OWNER ${owner}`);
  } finally {
    await admin.end();
  }
}

await main();
