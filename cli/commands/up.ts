/**
 * `portcullis up`: everything a new user needs to try Portcullis, in one command. It starts an
 * embedded PostgreSQL with the sample shop data (the example repo's shop-db target), runs the
 * gateway on the example policies, and prints tokens and a psql line to paste.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { defineCommand } from '../command.ts';
import { startLocalPostgres, loadSampleData, type LocalPostgres } from '../../runtime/embedded/postgres.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import type { Postgres } from '../../schema/types.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { untilSignal } from './gateway.ts';
import { gatewayDefaults as d, parseGatewayFlags, showDuration } from '../../runtime/gateway/config.ts';
import { startGateway } from '../../runtime/gateway/start.ts';
import { ensureLocalTls } from '../../runtime/embedded/tls.ts';
import { startDemoBilling, type DemoApi } from '../../runtime/embedded/demo/billing.ts';
import { startApiServer } from '../../runtime/embedded/demo/kubernetes.ts';
import { startMcpServer } from '../../runtime/embedded/demo/mcp.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import type { Http, Kubernetes, Mcp } from '../../schema/types.ts';
import { PortcullisError } from '../../runtime/errors.ts';

async function secret(dataDir: string, name: string): Promise<string> {
  const path = join(dataDir, name);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const value = randomBytes(18).toString('base64url');
    await writeFile(path, value + '\n', { mode: 0o600 });
    return value;
  }
}

/**
 * Where the embedded cluster lives. As root, PostgreSQL runs as an unprivileged account that must
 * traverse every parent folder; a data dir under /root or a private temp dir is out of its reach, so
 * the cluster then goes to /var/tmp under a name derived from the data dir (stable across restarts).
 */
async function clusterDir(dataDir: string): Promise<string> {
  const inside = join(dataDir, 'postgres');
  if (process.getuid?.() !== 0) return inside;
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      const outside = join('/var/tmp', `portcullis-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
      await mkdir(outside, { recursive: true });
      await chmod(outside, 0o711);
      return join(outside, 'postgres');
    }
    if (dir === dirname(dir)) return inside;
  }
}

/** The role the gateway logs in as: it may read and write the shop's rows; policy decides the rest. */
async function ensureGatewayRole(server: LocalPostgres, spec: Postgres, password: string): Promise<void> {
  const c = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: spec.database });
  await c.connect();
  try {
    const role = pg.escapeIdentifier(spec.user);
    const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [spec.user]);
    await c.query(`${exists.rowCount ? 'ALTER' : 'CREATE'} ROLE ${role} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    await c.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(spec.database)} TO ${role}`);
    await c.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    await c.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  } finally {
    await c.end();
  }
}

/** The demo's own defaults: a review waits for the person trying the console; the gateway's are in gatewayDefaults. */
const DEMO_REVIEW_HOLD = '2m';
const DEMO_TOKEN_TTL = '1h';

export default defineCommand(
  {
    name: 'up',
    summary: 'Start the gateway on an embedded default: example policies, a sample database, tokens to try.',
    usage: `portcullis up [--policies DIR] [--data-dir ${d.dataDir}] [--pg-port ${d.pgPort}]`,
    // No parseArgs defaults for the gateway's flags: they come from gatewayDefaults, and the demo's own below.
    options: {
      policies: { type: 'string', short: 'p' },
      'data-dir': { type: 'string' },
      'pg-port': { type: 'string' },
      'http-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'review-hold': { type: 'string', default: DEMO_REVIEW_HOLD },
      'token-ttl': { type: 'string', default: DEMO_TOKEN_TTL },
    },
    help: {
      policies: `policy repo folder (default: the example in ${d.policies}/)`,
      'data-dir': `embedded database, evidence and keys (default: ${d.dataDir})`,
      'pg-port': `port of the PostgreSQL gateway (default ${d.pgPort})`,
      'http-port': `port of the HTTPS gateway for HTTP, Kubernetes and MCP targets (default ${d.httpPort})`,
      'admin-port': `port of the console, approvals API, health and metrics (default ${d.adminPort})`,
      'review-hold': `how long a statement that needs review waits for an approver (default ${DEMO_REVIEW_HOLD}; ${showDuration(0)} refuses at once)`,
      'token-ttl': `lifetime of the printed tokens (default ${DEMO_TOKEN_TTL})`,
    },
  },
  async ({ values }) => {
    // The gateway's flags are checked before the embedded database starts; the TLS files and the
    // absolute data dir are added once they exist.
    const flags = {
      ...(values.policies !== undefined ? { policies: values.policies } : {}),
      ...(values['pg-port'] !== undefined ? { 'pg-port': values['pg-port'] } : {}),
      ...(values['http-port'] !== undefined ? { 'http-port': values['http-port'] } : {}),
      ...(values['admin-port'] !== undefined ? { 'admin-port': values['admin-port'] } : {}),
      ...(values['data-dir'] !== undefined ? { 'data-dir': values['data-dir'] } : {}),
      'review-hold': values['review-hold']!,
      // the demo listens on loopback only, whatever the gateway's default becomes
      host: '127.0.0.1',
    };
    const checked = parseGatewayFlags(flags);
    // The demo is its PostgreSQL gateway: every printed line but two goes through it.
    if (checked.pgPort === 'off')
      throw new PortcullisError('invalid_argument', '--pg-port off: portcullis up serves its sample database through the PostgreSQL listener; give a port (0 picks a free one)');
    const dataDir = resolve(values['data-dir'] ?? d.dataDir);
    await mkdir(dataDir, { recursive: true });
    // The embedded server runs as an unprivileged account when we are root: it must traverse this
    // folder (but not list it); every secret inside is a 0600 file.
    await chmod(dataDir, 0o711);
    const say = (s: string) => process.stderr.write(s + '\n');
    const bundle = await loadBundle(checked.policies);
    const targets = [...bundle.targets.values()].filter((t) => t.doc.spec.type === 'postgres' && ['127.0.0.1', 'localhost'].includes((t.doc.spec as Postgres).host));
    const first = targets[0];
    if (!first) throw new PortcullisError('failed_precondition', 'the policy repo has no PostgreSQL target on 127.0.0.1 for the embedded database to serve');
    const spec = first.doc.spec as Postgres;

    say(`starting the embedded PostgreSQL for target ${first.doc.metadata.name} on 127.0.0.1:${spec.port} ...`);
    const server = await startLocalPostgres({
      dataDir: await clusterDir(dataDir),
      port: spec.port,
      password: await secret(dataDir, 'postgres.password'),
      persistent: true,
      onProgress: (m) => say(`  ${m}`),
    }).catch((err: unknown) => {
      const e = PortcullisError.from(err);
      if (/could not (bind|create any TCP)/.test(e.message)) {
        throw new PortcullisError('unavailable', `port ${spec.port} (target ${first.doc.metadata.name}) is in use`, { details: { hint: 'is another `portcullis up` running? stop it first' } });
      }
      throw e;
    });
    await loadSampleData(server, spec.database);
    const password = await secret(dataDir, `${first.doc.metadata.name}.password`);
    await ensureGatewayRole(server, spec, password);
    if (spec.password && 'env' in spec.password) process.env[spec.password.env] = password;

    // Demo upstreams for the example's HTTP and Kubernetes targets, each expecting the credential
    // the gateway injects (the agents never see it).
    const demos: DemoApi[] = [];
    const stopDemos = () => Promise.allSettled(demos.map((d) => d.close()));
    for (const t of bundle.targets.values()) {
      const spec = t.doc.spec;
      if (spec.type !== 'http' && spec.type !== 'kubernetes' && spec.type !== 'mcp') continue;
      const url = new URL((spec as Http | Kubernetes | Mcp).url);
      const bearer = (spec as Http | Kubernetes | Mcp).auth?.bearer;
      if (!['127.0.0.1', 'localhost'].includes(url.hostname) || !bearer || !('env' in bearer)) continue;
      const token = await secret(dataDir, `${t.doc.metadata.name}.token`);
      process.env[bearer.env] = token;
      const start =
        spec.type === 'http' ? startDemoBilling : spec.type === 'kubernetes' ? startApiServer : (o: { port: number; token: string }) => startMcpServer({ ...o, json: false, eventStore: true });
      const demo = await start({ port: Number(url.port), token }).catch((err: NodeJS.ErrnoException) => {
        say(`  (demo upstream for ${t.doc.metadata.name} not started: ${err.code === 'EADDRINUSE' ? `port ${url.port} is in use` : err.message})`);
        return undefined;
      });
      if (demo) demos.push(demo);
    }

    const tls = await ensureLocalTls(join(dataDir, 'tls'));
    const gw = await startGateway({ ...checked, dataDir, tls: { certFile: tls.certFile, keyFile: tls.keyFile } }, { allowKeyInEvidenceDir: true }).catch(async (err) => {
      await stopDemos();
      await server.stop();
      throw err;
    });
    const ttl = values['token-ttl']!;
    const support = await issueToken({ dataDir, subject: 'support-agent', ttl });
    const data = await issueToken({ dataDir, subject: 'data-agent', ttl });
    const ops = await issueToken({ dataDir, subject: 'ops-agent', ttl });
    const kubeconfig = join(dataDir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      kubeconfigYaml({ target: 'k8s-prod', server: `${gw.httpUrl}/k8s-prod`, user: 'ops-agent', token: ops.token, caData: (await readFile(tls.caFile)).toString('base64') }),
      { mode: 0o600 },
    );
    const conn = (token: string) => `PGPASSWORD='${token}' psql "host=127.0.0.1 port=${gw.pgPort} dbname=${first.doc.metadata.name} user=agent sslmode=disable"`;
    const rel = (p: string) => (p.startsWith(process.cwd() + '/') ? p.slice(process.cwd().length + 1) : p);
    // Tokens come from the dev issuer key in the data directory: every printed token line names it
    // unless it is the default one, so `npm start -- --data-dir X` prints lines that work.
    const dataDirFlag = dataDir === resolve(d.dataDir) ? '' : ` --data-dir ${rel(dataDir)}`;
    const curl = (method: string, path: string) => `curl -s --cacert ${rel(tls.caFile)} -H "Authorization: Bearer $TOKEN"${method === 'GET' ? '' : ` -X ${method}`} '${gw.httpUrl}/billing-api${path}'`;
    process.stdout.write(
      [
        '',
        `Portcullis is running: policy ${gw.revision}; PostgreSQL gateway on 127.0.0.1:${gw.pgPort}, HTTPS gateway on ${gw.httpUrl}; evidence in ${rel(join(dataDir, 'evidence'))}`,
        '',
        `As the support agent (tokens valid ${ttl}):`,
        `  ${conn(support.token)}`,
        '',
        '  select id, name, email, ssn from customers limit 3;   -- allowed; email partial, ssn redacted',
        "  update orders set status = 'refunded' where id = 1;  -- denied by support-read/no-writes",
        '  select upper(ssn) from customers;                    -- refused: classified data in an expression',
        '  select 1;  \\dt  \\d customers                         -- exploring: table-less selects and the catalog',
        '',
        'As the data agent:',
        `  ${conn(data.token)}`,
        '',
        "  delete from orders where status = 'cancelled';       -- review: waits for a DBA; approve it in the console",
        '  drop table orders;                                   -- denied by agents-baseline/no-ddl',
        '',
        'The billing API as the support agent:',
        `  TOKEN='${support.token}'`,
        `  ${curl('GET', '/invoices/2026/11?limit=10')}   # allowed, emails and cards masked`,
        `  ${curl('DELETE', '/invoices/7')}               # 403 problem: billing-support/no-deletes`,
        '',
        'Kubernetes as the ops agent:',
        `  kubectl --kubeconfig ${rel(kubeconfig)} get pods -n shop                 # allowed`,
        `  kubectl --kubeconfig ${rel(kubeconfig)} delete pod web-1 -n shop         # Forbidden: platform-read/no-deletes`,
        `  kubectl --kubeconfig ${rel(kubeconfig)} get secret db-password -n shop   # Forbidden: needs an SRE's review`,
        '',
        'MCP tools as the support agent (the SDK client in docs/examples/mcp-agent.ts):',
        `  NODE_EXTRA_CA_CERTS=${rel(tls.caFile)} PORTCULLIS_TOKEN="$TOKEN" npx tsx docs/examples/mcp-agent.ts ${gw.httpUrl}/tools-mcp`,
        '',
        `Approvals, sessions and metrics: ${gw.adminUrl ?? '(admin port off)'} — sign in with: npx portcullis token issue --subject alice${dataDirFlag}`,
        `More tokens: npx portcullis token issue --subject ops-agent --ttl 15m${dataDirFlag}`,
        'Stop with Ctrl-C.',
        '',
      ].join('\n'),
    );
    return untilSignal(async () => {
      await gw.stop();
      await stopDemos();
      await server.stop();
    });
  },
);
