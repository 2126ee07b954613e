/**
 * `portcullis gateway`: run the gateway for a policy repo. Every listener shares one bundle, one
 * token verifier and one evidence store; SIGHUP reloads the repo, SIGINT/SIGTERM drain and stop.
 */
import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { startGatewayRuntime, type IdentityProviderConfig } from '../../runtime/gateway/runtime.ts';
import { startPostgresGateway } from '../../runtime/postgres/gateway/listener.ts';
import { startHttpGateway } from '../../runtime/http/gateway.ts';
import { startAdminServer } from '../../runtime/admin/server.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { discoverIssuer } from '../../runtime/identity/discovery.ts';
import { parseDuration } from '../../runtime/engine/duration.ts';

export const gatewayOptions = {
  policies: { type: 'string', short: 'p', default: 'policies' },
  'data-dir': { type: 'string', default: '.portcullis' },
  host: { type: 'string', default: '127.0.0.1' },
  'pg-port': { type: 'string', default: '6432' },
  'http-port': { type: 'string', default: '8443' },
  'admin-port': { type: 'string', default: '6480' },
  'review-hold': { type: 'string', default: '0s' },
  'evidence-durability': { type: 'string', default: 'fsync' },
  'evidence-journal': { type: 'string', default: '16' },
  'approval-webhook': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  plaintext: { type: 'string', default: 'loopback' },
  issuer: { type: 'string' },
  audience: { type: 'string' },
  jwks: { type: 'string' },
  git: { type: 'string' },
  branch: { type: 'string', default: 'main' },
  poll: { type: 'string', default: '10s' },
  'git-path': { type: 'string' },
  'require-signed': { type: 'boolean' },
  'no-watch': { type: 'boolean' },
  state: { type: 'string' },
  replica: { type: 'string' },
  'evidence-key': { type: 'string' },
  'evidence-witness': { type: 'string' },
  'checkpoint-interval': { type: 'string', default: '1s' },
  drain: { type: 'string', default: '30s' },
} as const;

export const gatewayHelp = {
  policies: 'policy repo folder (default: policies)',
  'data-dir': 'evidence, keys and state (default: .portcullis)',
  host: 'address to listen on (default 127.0.0.1)',
  'pg-port': 'PostgreSQL listener port (default 6432; 0 picks a free port)',
  'http-port': 'HTTP, Kubernetes and MCP listener port (default 8443; HTTPS when --tls-cert is given; off disables it)',
  'admin-port': 'health, readiness, metrics, the approvals API and the web console (default 6480; off disables it)',
  'review-hold': 'how long a request needing review is held open waiting for approvers (default 0s: refuse at once with the approval id); HTTP requests are held only when they send Prefer: wait=N, and at most this long',
  'evidence-durability': 'fsync (default): each decision is on disk before its statement runs; write: in the OS (survives a gateway crash), flushed to disk right after',
  'evidence-journal': 'MiB of evidence.journal, the pre-written file fsync batches are flushed through (default 16; 0 flushes evidence.jsonl itself, e.g. on a copy-on-write filesystem where overwriting gains nothing)',
  'approval-webhook': 'URL that receives each new approval request and its outcome (Slack-compatible JSON)',
  'tls-cert': 'PEM certificate for TLS (SSLRequest)',
  'tls-key': 'PEM private key for TLS',
  plaintext: 'allow connections without TLS: loopback (default), always or never',
  issuer: 'trusted token issuer URL, as tokens carry it in iss (default: the local dev issuer); its key set is found by OpenID Connect discovery unless --jwks is given',
  audience: 'expected token audience',
  jwks: 'JWKS of the issuer: a file path or an https URL (default: the jwks_uri of the issuer\'s /.well-known/openid-configuration)',
  git: 'follow this git repository (URL or path) instead of reading --policies from disk',
  branch: 'branch to follow with --git (default main)',
  poll: 'how often to fetch with --git (default 10s; SIGHUP fetches now)',
  'git-path': 'folder of the policy repo inside the git repository',
  'require-signed': 'with --git: only commits that `git verify-commit` accepts go live',
  'no-watch': 'do not reload when files under --policies change',
  state: 'postgres:// URL of the state database shared by replicas (default: $PORTCULLIS_STATE, else files under --data-dir)',
  replica: 'name stamped on this replica\'s evidence (default: hostname-pid)',
  'evidence-key': 'PEM Ed25519 key that signs evidence checkpoints (default: one generated in <data-dir>/keys/; never inside <data-dir>/evidence/); give every replica the same',
  'evidence-witness': 'append-only file that receives every checkpoint\'s head, for `evidence verify` to detect a cut log (default <data-dir>/witness/evidence.heads; better on another disk or host)',
  'checkpoint-interval': 'sign the evidence head at least this often while records arrive (default 1s; also every 1000 records): what a cut can remove unnoticed is bounded by it',
  drain: 'on SIGTERM/SIGINT, how long open PostgreSQL sessions may finish before they are closed (default 30s; /readyz says draining at once)',
};

type Values = { [K in keyof typeof gatewayOptions]?: (typeof gatewayOptions)[K]['type'] extends 'boolean' ? boolean : string };

export interface RunningGateway {
  runtime: import('../../runtime/gateway/runtime.ts').GatewayRuntime;
  pgPort: number;
  /** base URL of the HTTP/Kubernetes/MCP listener; a target lives at `${httpUrl}/${target}` */
  httpUrl: string | undefined;
  /** health, metrics, the approvals API and the console */
  adminUrl: string | undefined;
  revision: string | undefined;
  /** how long stop() lets open sessions finish */
  drainMs: number;
  /** Drain (readiness off, no new sessions, open ones get up to the --drain deadline), then close everything. */
  stop(): Promise<void>;
}

export async function runGateway(values: Values, log?: (event: string, fields?: Record<string, unknown>) => void, demo = false): Promise<RunningGateway> {
  const plaintext = values.plaintext ?? 'loopback';
  if (plaintext !== 'loopback' && plaintext !== 'always' && plaintext !== 'never') {
    throw new PortcullisError('invalid_argument', `--plaintext must be loopback, always or never, not '${plaintext}'`);
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    throw new PortcullisError('invalid_argument', '--tls-cert and --tls-key go together');
  }
  let identity: IdentityProviderConfig | undefined;
  if (values.issuer || values.jwks || values.audience) {
    if (!values.issuer || !values.audience) {
      throw new PortcullisError('invalid_argument', '--issuer and --audience go together (--jwks is optional: without it the key set is found by OpenID Connect discovery)', { details: { hint: 'omit all of them to trust the local dev issuer' } });
    }
    const jwks = values.jwks ?? (await discoverIssuer(values.issuer)).jwksUri;
    identity = { issuer: values.issuer, audience: values.audience, jwks: /^https?:\/\//.test(jwks) ? { url: jwks } : { file: jwks } };
  }
  const drainText = values.drain ?? '30s';
  const drainMs = drainText === '0' || drainText === '0s' ? 0 : parseDuration(drainText);
  const pgPort = Number(values['pg-port'] ?? '6432');
  if (!Number.isInteger(pgPort) || pgPort < 0 || pgPort > 65535) throw new PortcullisError('invalid_argument', `--pg-port must be a port number`);

  const git = values.git
    ? { url: values.git, branch: values.branch ?? 'main', pollMs: parseDuration(values.poll ?? '10s'), ...(values['git-path'] ? { path: values['git-path'] } : {}), requireSignedCommits: values['require-signed'] ?? false }
    : undefined;
  // From the environment by default: a URL on the command line shows its password to `ps`.
  const stateUrl = values.state ?? process.env.PORTCULLIS_STATE;
  if (values.replica && !stateUrl) {
    throw new PortcullisError('invalid_argument', '--replica needs --state: only replicas sharing a state database have names', { details: { hint: 'pass --state postgres://... or set PORTCULLIS_STATE' } });
  }
  const durability = values['evidence-durability'] ?? 'fsync';
  if (durability !== 'fsync' && durability !== 'write') throw new PortcullisError('invalid_argument', `--evidence-durability must be fsync or write, not '${durability}'`);
  const journalText = values['evidence-journal'] ?? '16';
  const journalMiB = Number(journalText);
  if (!/^\d+$/.test(journalText) || journalMiB > 4096 || (journalMiB > 0 && journalMiB < 1)) {
    throw new PortcullisError('invalid_argument', `--evidence-journal must be a whole number of MiB from 0 to 4096, not '${journalText}'`);
  }
  const checkpointIntervalMs = parseDuration(values['checkpoint-interval'] ?? '1s');
  if (!(checkpointIntervalMs > 0) || checkpointIntervalMs > 3_600_000) {
    throw new PortcullisError('invalid_argument', `--checkpoint-interval must be more than 0 and at most 1h, not '${values['checkpoint-interval']}'`);
  }
  const holdText = values['review-hold'] ?? '0s';
  const reviewHoldMs = holdText === '0s' || holdText === '0' ? 0 : parseDuration(holdText);
  const adminPortText = values['admin-port'] ?? '6480';
  let draining = false;
  const runtime = await startGatewayRuntime({
    reviewHoldMs,
    ...(values['approval-webhook'] ? { approvalWebhook: values['approval-webhook'] } : {}),
    ...(adminPortText !== 'off' ? { consoleUrl: `http://${values.host ?? '127.0.0.1'}:${adminPortText}/` } : {}),
    policies: values.policies ?? 'policies',
    ...(git ? { git } : {}),
    watch: !values['no-watch'],
    dataDir: values['data-dir'] ?? '.portcullis',
    ...(identity ? { identity } : {}),
    ...(log ? { log } : {}),
    ...(stateUrl ? { state: { postgres: stateUrl, ...(values.replica ? { replica: values.replica } : {}) } } : {}),
    evidence: {
      durability,
      journalBytes: journalMiB * 1024 * 1024,
      checkpointIntervalMs,
      ...(values['evidence-key'] ? { signingKeyFile: values['evidence-key'] } : {}),
      ...(values['evidence-witness'] ? { witnessFile: values['evidence-witness'] } : {}),
    },
    ...(demo ? { allowKeyInEvidenceDir: true } : {}),
  });
  const { evidence, lastReload: first } = runtime.status();
  // The store may look healthy between its failures; a bundle whose record could not be written says it was not.
  const unrecorded = !runtime.ctx.bundle() && first?.stage === 'record';
  if (evidence && (!evidence.healthy || unrecorded)) {
    // Nothing could be served (every request needs its record first): say why and exit, rather
    // than sit there refusing everything. A store that fails later is waited out instead.
    await runtime.close().catch(() => {});
    const space = await statfs(join(runtime.dataDir, 'evidence')).catch(() => undefined);
    const full = /ENOSPC|no space left/i.test(`${evidence.error ?? ''} ${first?.errors?.[0] ?? ''}`) || (space !== undefined && space.bavail * space.bsize < 1024 * 1024);
    const cause = evidence.error ?? (unrecorded ? first?.errors?.[0] : undefined);
    throw new PortcullisError('failed_precondition', `the evidence store cannot be written at start${full ? ': the disk is full' : ''}${cause ? `: ${cause}` : ''}`, {
      details: { hint: full ? 'the disk holding the evidence is full: free space (or move --data-dir) and start again' : 'check that --data-dir (or the --state database) is writable, then start again' },
    });
  }
  // A repo whose bundle fails the loader or lint never goes live: at start, say so and stop, rather
  // than listen refusing everything (a reload later keeps the last good bundle instead).
  if (!runtime.ctx.bundle() && first && !first.ok && first.stage) {
    await runtime.close();
    const errors = first.errors ?? [];
    throw new PortcullisError('invalid_policy', `the policy bundle ${first.stage === 'lint' ? 'has lint errors' : 'does not load'}, so the gateway does not start (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${errors.map((e) => `  ${e.replace(/\n/g, '\n  ')}`).join('\n')}`, {
      details: { hint: `the gateway serves only bundles that '${values.git ? 'portcullis lint' : `portcullis lint ${values.policies ?? 'policies'}`}' passes; fix the errors (warnings are fine, a suppression needs a reason)` },
    });
  }
  const tls = values['tls-cert'] && values['tls-key'] ? { cert: await readFile(values['tls-cert'], 'utf8'), key: await readFile(values['tls-key'], 'utf8') } : undefined;
  const pg = await startPostgresGateway(runtime.ctx, {
    host: values.host ?? '127.0.0.1',
    port: pgPort,
    plaintext,
    maskKey: runtime.maskKey,
    catalogStateDir: join(runtime.dataDir, 'postgres-catalog'),
    ...(tls ? { tls } : {}),
  }).catch(async (err: NodeJS.ErrnoException) => {
    await runtime.close();
    if (err.code === 'EADDRINUSE') throw new PortcullisError('unavailable', `port ${pgPort} is already in use`, { details: { hint: 'pass --pg-port with another port, or stop the other process' } });
    throw err;
  });
  const httpPortText = values['http-port'] ?? '8443';
  const http =
    httpPortText === 'off'
      ? undefined
      : await startHttpGateway(runtime.ctx, { host: values.host ?? '127.0.0.1', port: Number(httpPortText), maskKey: runtime.maskKey, ...(tls ? { tls } : {}) }).catch(async (err: NodeJS.ErrnoException) => {
          await pg.close();
          await runtime.close();
          if (err.code === 'EADDRINUSE') throw new PortcullisError('unavailable', `port ${httpPortText} is already in use`, { details: { hint: 'pass --http-port with another port (or off), or stop the other process' } });
          throw err;
        });
  const admin =
    adminPortText === 'off'
      ? undefined
      : await startAdminServer(runtime.ctx, {
          approvals: runtime.approvals,
          metrics: runtime.metrics,
          dataDir: runtime.dataDir,
          host: values.host ?? '127.0.0.1',
          port: Number(adminPortText),
          // Draining: load balancers stop sending new clients at once, while sessions finish.
          ready: () => (draining ? { ...runtime.status(), ready: false, reason: 'draining: the gateway is shutting down' } : runtime.status()),
        }).catch(async (err: NodeJS.ErrnoException) => {
          await pg.close();
          await http?.close();
          await runtime.close();
          if (err.code === 'EADDRINUSE') throw new PortcullisError('unavailable', `port ${adminPortText} is already in use`, { details: { hint: 'pass --admin-port with another port (or off), or stop the other process' } });
          throw err;
        });
  const bundle = runtime.ctx.bundle();
  const onHup = () => void runtime.reload();
  process.on('SIGHUP', onHup);
  return {
    runtime,
    pgPort: pg.port,
    httpUrl: http?.url,
    adminUrl: admin?.url,
    drainMs,
    revision: bundle ? (bundle.revision.commit?.slice(0, 7) ?? bundle.revision.digest.slice(0, 12)) : undefined,
    async stop() {
      process.off('SIGHUP', onHup);
      draining = true;
      log?.('gateway.draining', { deadlineMs: drainMs, sessions: pg.sessions() });
      await pg.close(drainMs);
      await http?.close();
      await admin?.close();
      await runtime.close();
    },
  };
}

/** Resolve on SIGINT/SIGTERM, then stop cleanly; with a deadline, give up waiting on stop() after it. */
export function untilSignal(stop: () => Promise<void>, deadlineMs?: number): Promise<number> {
  return new Promise((resolve) => {
    const done = async () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      const stopped = stop().catch(() => {});
      if (deadlineMs === undefined) await stopped;
      else {
        const late = await Promise.race([stopped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), deadlineMs).unref())]);
        if (late) process.stderr.write(`portcullis gateway: shutdown did not finish within ${deadlineMs / 1000}s; exiting anyway\n`);
      }
      // Everything is closed; a handle something forgot (a timer, a socket) must not keep the
      // process alive past its drain deadline.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
      resolve(0);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export default defineCommand(
  {
    name: 'gateway',
    summary: 'Run the gateway for a policy repo.',
    usage: 'portcullis gateway [--policies DIR | --git URL] [--pg-port 6432] [--tls-cert F --tls-key F] [--issuer I --audience A [--jwks FILE|URL]] [--evidence-key FILE] [--evidence-witness FILE] [--drain 30s] [--state postgres://... --replica NAME]',
    options: gatewayOptions,
    help: gatewayHelp,
  },
  async ({ values }) => {
    const gw = await runGateway(values as Values);
    process.stderr.write(`portcullis gateway ready: postgres on ${values.host}:${gw.pgPort}${gw.httpUrl ? `, http on ${gw.httpUrl}` : ''}${gw.adminUrl ? `, console on ${gw.adminUrl}` : ''} (policy ${gw.revision ?? 'none: refusing all requests'})\n`);
    // The drain, then a little for the listeners and the evidence store to close.
    return untilSignal(async () => {
      process.stderr.write(`portcullis gateway draining: open sessions have ${gw.drainMs / 1000}s to finish\n`);
      await gw.stop();
    }, gw.drainMs + 10_000);
  },
);
