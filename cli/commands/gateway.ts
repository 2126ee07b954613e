/**
 * `portcullis gateway`: run the gateway for a policy repo. Every listener shares one bundle, one
 * token verifier and one evidence store; SIGHUP reloads the repo, SIGINT/SIGTERM drain and stop.
 */
import { defineCommand } from '../command.ts';
import { gatewayDefaults as d, parseGatewayFlags, showDuration, type GatewayFlags } from '../../runtime/gateway/config.ts';
import { startGateway } from '../../runtime/gateway/start.ts';

// No parseArgs defaults: an unset flag takes its value from gatewayDefaults (runtime/gateway/config.ts).
export const gatewayOptions = {
  policies: { type: 'string', short: 'p' },
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  'pg-port': { type: 'string' },
  'http-port': { type: 'string' },
  'admin-port': { type: 'string' },
  'review-hold': { type: 'string' },
  'evidence-durability': { type: 'string' },
  'evidence-journal': { type: 'string' },
  'approval-webhook': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  plaintext: { type: 'string' },
  issuer: { type: 'string' },
  audience: { type: 'string' },
  jwks: { type: 'string' },
  git: { type: 'string' },
  branch: { type: 'string' },
  poll: { type: 'string' },
  'git-path': { type: 'string' },
  'require-signed': { type: 'boolean' },
  'no-watch': { type: 'boolean' },
  state: { type: 'string' },
  replica: { type: 'string' },
  'evidence-key': { type: 'string' },
  'evidence-witness': { type: 'string' },
  'checkpoint-interval': { type: 'string' },
  drain: { type: 'string' },
} as const;

// Every flag above is a field of GatewayFlags and every field a flag: tsc fails here when they drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const flagsMatchConfig: Same<keyof typeof gatewayOptions, keyof GatewayFlags> = true;
void flagsMatchConfig;

/** ' (default)' after the choice that is the default. */
const isDefault = (choice: string, current: string) => (choice === current ? ' (default)' : '');

export const gatewayHelp = {
  policies: `policy repo folder (default: ${d.policies})`,
  'data-dir': `evidence, keys and state (default: ${d.dataDir})`,
  host: `address to listen on (default ${d.host})`,
  'pg-port': `PostgreSQL listener port (default ${d.pgPort}; 0 picks a free port; off disables it)`,
  'http-port': `HTTP, Kubernetes and MCP listener port (default ${d.httpPort}; HTTPS when --tls-cert is given; off disables it)`,
  'admin-port': `health, readiness, metrics, the approvals API and the web console (default ${d.adminPort}; off disables it)`,
  'review-hold': `how long a request needing review is held open waiting for approvers (default ${showDuration(d.reviewHoldMs)}: refuse at once with the approval id); HTTP requests are held only when they send Prefer: wait=N, and at most this long`,
  'evidence-durability': `fsync${isDefault('fsync', d.evidence.durability)}: each decision is on disk before its statement runs; write${isDefault('write', d.evidence.durability)}: in the OS (survives a gateway crash), flushed to disk right after`,
  'evidence-journal': `MiB of evidence.journal, the pre-written file fsync batches are flushed through (default ${d.evidence.journalMiB}; 0 flushes evidence.jsonl itself, e.g. on a copy-on-write filesystem where overwriting gains nothing)`,
  'approval-webhook': 'URL that receives each new approval request and its outcome (Slack-compatible JSON)',
  'tls-cert': 'PEM certificate for TLS (SSLRequest)',
  'tls-key': 'PEM private key for TLS',
  plaintext: `allow connections without TLS: loopback${isDefault('loopback', d.plaintext)}, always or never`,
  issuer: 'trusted token issuer URL, as tokens carry it in iss (default: the local dev issuer); its key set is found by OpenID Connect discovery unless --jwks is given',
  audience: 'expected token audience',
  jwks: "JWKS of the issuer: a file path or an https URL (default: the jwks_uri of the issuer's /.well-known/openid-configuration)",
  git: 'follow this git repository (URL or path) instead of reading --policies from disk',
  branch: `branch to follow with --git (default ${d.git.branch})`,
  poll: `how often to fetch with --git (default ${showDuration(d.git.pollMs)}; SIGHUP fetches now)`,
  'git-path': 'folder of the policy repo inside the git repository',
  'require-signed': 'with --git: only commits that `git verify-commit` accepts go live',
  'no-watch': 'do not reload when files under --policies change',
  state: 'postgres:// URL of the state database shared by replicas (default: $PORTCULLIS_STATE, else files under --data-dir)',
  replica: "name stamped on this replica's evidence (default: hostname-pid)",
  'evidence-key': 'PEM Ed25519 key that signs evidence checkpoints (default: one generated in <data-dir>/keys/; never inside <data-dir>/evidence/); give every replica the same',
  'evidence-witness': "append-only file that receives every checkpoint's head, for `evidence verify` to detect a cut log (default <data-dir>/witness/evidence.heads; better on another disk or host)",
  'checkpoint-interval': `sign the evidence head at least this often while records arrive (default ${showDuration(d.evidence.checkpointIntervalMs)}; also every 1000 records): what a cut can remove unnoticed is bounded by it`,
  drain: `on SIGTERM/SIGINT, how long open PostgreSQL sessions may finish before they are closed (default ${showDuration(d.drainMs)}; /readyz says draining at once)`,
};

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
    usage: `portcullis gateway [--policies DIR | --git URL] [--pg-port ${d.pgPort}] [--tls-cert F --tls-key F] [--issuer I --audience A [--jwks FILE|URL]] [--evidence-key FILE] [--evidence-witness FILE] [--drain ${showDuration(d.drainMs)}] [--state postgres://... --replica NAME]`,
    options: gatewayOptions,
    help: gatewayHelp,
  },
  async ({ values }) => {
    // Every flag is checked here, before a file, port or connection is opened.
    const config = parseGatewayFlags(values as GatewayFlags);
    const gw = await startGateway(config);
    const onHup = () => void gw.runtime.reload();
    process.on('SIGHUP', onHup);
    const listeners = [
      gw.pgPort !== undefined ? `postgres on ${config.host}:${gw.pgPort}` : undefined,
      gw.httpUrl ? `http on ${gw.httpUrl}` : undefined,
      gw.adminUrl ? `console on ${gw.adminUrl}` : undefined,
    ].filter(Boolean);
    process.stderr.write(`portcullis gateway ready: ${listeners.join(', ') || 'no listeners'} (policy ${gw.revision ?? 'none: refusing all requests'})\n`);
    // The drain, then a little for the listeners and the evidence store to close.
    return untilSignal(async () => {
      process.off('SIGHUP', onHup);
      process.stderr.write(`portcullis gateway draining: open sessions have ${gw.drainMs / 1000}s to finish\n`);
      await gw.stop();
    }, gw.drainMs + 10_000);
  },
);
