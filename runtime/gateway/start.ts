/**
 * The composition root: one checked GatewayConfig in, a running gateway out. The runtime (bundle,
 * tokens, evidence, approvals) starts first; then the listeners the config asks for, sharing it.
 * The CLI, `portcullis up`, the tests and the benches all build their gateways here.
 */
import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { discoverIssuer } from '../identity/discovery.ts';
import type { FileEvidenceStoreOptions } from '../evidence/store.ts';
import { startPostgresGateway, type PostgresGateway, type PostgresGatewayOptions } from '../protocols/postgres/listener.ts';
import { startHttpGateway, type HttpGateway } from './http-listener.ts';
import { startAdminServer, type AdminServer } from '../admin/server.ts';
import { startGatewayRuntime, type GatewayRuntime, type IdentityProviderConfig } from './runtime.ts';
import { resolveGatewayConfig, type GatewayConfig, type GatewayConfigInput } from './config.ts';

export type GatewayLog = (event: string, fields?: Record<string, unknown>) => void;

/** How the gateway is embedded: none of this is a flag, and the CLI sets only `log` (and `up` its demo key rule). */
export interface StartGatewayOptions {
  /** structured log lines; default: JSON on stderr */
  log?: GatewayLog;
  /**
   * Start even when no bundle goes live or the evidence store cannot be written, and serve refusals.
   * For tests of that fail-closed behaviour; the CLI instead says why and exits.
   */
  startUnready?: boolean;
  /** Serve a bundle that loads even when lint reports errors (tests with deliberately permissive fixtures). */
  acceptLintErrors?: boolean;
  /** `portcullis up` only: accept an evidence key file inside the evidence directory */
  allowKeyInEvidenceDir?: boolean;
  /** evidence store knobs the config does not carry: fault injection (openFile, openJournal) and batch tuning */
  evidence?: Omit<FileEvidenceStoreOptions, 'durability' | 'journalBytes' | 'checkpointIntervalMs' | 'signingKeyFile' | 'witnessFile'>;
  /** PostgreSQL listener knobs the config does not carry */
  postgres?: Pick<PostgresGatewayOptions, 'startupTimeoutMs' | 'catalogStateDir'>;
}

export interface RunningGateway {
  runtime: GatewayRuntime;
  config: GatewayConfig;
  /** the PostgreSQL listener's port; undefined when pgPort is 'off' */
  pgPort: number | undefined;
  /** base URL of the HTTP/Kubernetes/MCP listener; a target lives at `${httpUrl}/${target}` */
  httpUrl: string | undefined;
  /** health, metrics, the approvals API and the console */
  adminUrl: string | undefined;
  revision: string | undefined;
  /** how long stop() lets open sessions finish */
  drainMs: number;
  postgres: PostgresGateway | undefined;
  http: HttpGateway | undefined;
  admin: AdminServer | undefined;
  /** Drain (readiness off, no new sessions, open ones get up to the drain deadline), then close everything. */
  stop(): Promise<void>;
}

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new PortcullisError('invalid_argument', `--${flag} ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function portInUse(err: NodeJS.ErrnoException, port: number, flag: string, orOff: boolean): unknown {
  if (err.code !== 'EADDRINUSE') return err;
  return new PortcullisError('unavailable', `port ${port} is already in use`, { details: { hint: `pass --${flag} with another port${orOff ? ' (or off)' : ''}, or stop the other process` } });
}

/** Refuse to start when nothing could be served; the reason is the evidence store or the bundle. */
async function refuseUnready(runtime: GatewayRuntime, config: GatewayConfig): Promise<void> {
  const { evidence, lastReload: first } = runtime.status();
  // The store may look healthy between its failures; a bundle whose record could not be written says it was not.
  const unrecorded = !runtime.ctx.bundle() && first?.stage === 'record';
  if (evidence && (!evidence.healthy || unrecorded)) {
    // Every request needs its record first: say why and exit, rather than sit there refusing
    // everything. A store that fails later is waited out instead.
    await runtime.close().catch(() => {});
    const space = await statfs(join(runtime.dataDir, 'evidence')).catch(() => undefined);
    const full = /ENOSPC|no space left/i.test(`${evidence.error ?? ''} ${first?.errors?.[0] ?? ''}`) || (space !== undefined && space.bavail * space.bsize < 1024 * 1024);
    const cause = evidence.error ?? (unrecorded ? first?.errors?.[0] : undefined);
    throw new PortcullisError('failed_precondition', `the evidence store cannot be written at start${full ? ': the disk is full' : ''}${cause ? `: ${cause}` : ''}`, {
      details: {
        hint: full ? 'the disk holding the evidence is full: free space (or move --data-dir) and start again' : 'check that --data-dir (or the --state database) is writable, then start again',
      },
    });
  }
  // A repo whose bundle fails the loader or lint never goes live: at start, say so and stop, rather
  // than listen refusing everything (a reload later keeps the last good bundle instead).
  if (!runtime.ctx.bundle() && first && !first.ok && first.stage) {
    await runtime.close();
    const errors = first.errors ?? [];
    throw new PortcullisError(
      'invalid_policy',
      `the policy bundle ${first.stage === 'lint' ? 'has lint errors' : 'does not load'}, so the gateway does not start (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${errors.map((e) => `  ${e.replace(/\n/g, '\n  ')}`).join('\n')}`,
      {
        details: {
          hint: `the gateway serves only bundles that '${config.git ? 'portcullis lint' : `portcullis lint ${config.policies}`}' passes; fix the errors (warnings are fine, a suppression needs a reason)`,
        },
      },
    );
  }
}

/** Start a gateway. A partial config gets the defaults; everything is checked before anything starts. */
export async function startGateway(input: GatewayConfig | GatewayConfigInput = {}, opts: StartGatewayOptions = {}): Promise<RunningGateway> {
  const config = resolveGatewayConfig(input as GatewayConfigInput);
  const { log } = opts;
  const tls = config.tls ? { cert: await readPem(config.tls.certFile, 'tls-cert'), key: await readPem(config.tls.keyFile, 'tls-key') } : undefined;
  let identity: IdentityProviderConfig | undefined;
  if (config.identity) {
    const jwks = config.identity.jwks ?? (await discoverIssuer(config.identity.issuer)).jwksUri;
    identity = { issuer: config.identity.issuer, audience: config.identity.audience, jwks: /^https?:\/\//.test(jwks) ? { url: jwks } : { file: jwks } };
  }
  let draining = false;
  const runtime = await startGatewayRuntime({
    policies: config.policies,
    ...(config.git ? { git: config.git } : {}),
    watch: config.watch,
    dataDir: config.dataDir,
    reviewHoldMs: config.reviewHoldMs,
    ...(config.approvalWebhook ? { approvalWebhook: config.approvalWebhook } : {}),
    ...(config.adminPort !== 'off' ? { consoleUrl: `http://${config.host}:${config.adminPort}/` } : {}),
    ...(identity ? { identity } : {}),
    ...(log ? { log } : {}),
    ...(config.state ? { state: config.state } : {}),
    evidence: {
      ...opts.evidence,
      durability: config.evidence.durability,
      journalBytes: config.evidence.journalMiB * 1024 * 1024,
      checkpointIntervalMs: config.evidence.checkpointIntervalMs,
      ...(config.evidence.signingKeyFile ? { signingKeyFile: config.evidence.signingKeyFile } : {}),
      ...(config.evidence.witnessFile ? { witnessFile: config.evidence.witnessFile } : {}),
    },
    ...(opts.acceptLintErrors ? { acceptLintErrors: true } : {}),
    ...(opts.allowKeyInEvidenceDir ? { allowKeyInEvidenceDir: true } : {}),
  });
  if (!opts.startUnready) await refuseUnready(runtime, config);

  // Listeners started so far, closed again if a later one cannot start.
  const started: { close(): Promise<void> }[] = [];
  const unwind = async (err: unknown): Promise<never> => {
    for (const l of started.reverse()) await l.close().catch(() => {});
    await runtime.close();
    throw err;
  };
  const { pgPort, httpPort, adminPort } = config;
  const postgres =
    pgPort === 'off'
      ? undefined
      : await startPostgresGateway(runtime.ctx, {
          host: config.host,
          port: pgPort,
          plaintext: config.plaintext,
          maskKey: runtime.maskKey,
          catalogStateDir: join(runtime.dataDir, 'postgres-catalog'),
          ...opts.postgres,
          ...(tls ? { tls } : {}),
        }).catch((err: NodeJS.ErrnoException) => unwind(portInUse(err, pgPort, 'pg-port', false)));
  if (postgres) started.push(postgres);
  const http =
    httpPort === 'off'
      ? undefined
      : await startHttpGateway(runtime.ctx, { host: config.host, port: httpPort, maskKey: runtime.maskKey, ...(tls ? { tls } : {}) }).catch((err: NodeJS.ErrnoException) =>
          unwind(portInUse(err, httpPort, 'http-port', true)),
        );
  if (http) started.push(http);
  const admin =
    adminPort === 'off'
      ? undefined
      : await startAdminServer(runtime.ctx, {
          approvals: runtime.approvals,
          metrics: runtime.metrics,
          dataDir: runtime.dataDir,
          host: config.host,
          port: adminPort,
          // Draining: load balancers stop sending new clients at once, while sessions finish.
          ready: () => (draining ? { ...runtime.status(), ready: false, reason: 'draining: the gateway is shutting down' } : runtime.status()),
        }).catch((err: NodeJS.ErrnoException) => unwind(portInUse(err, adminPort, 'admin-port', true)));

  const bundle = runtime.ctx.bundle();
  return {
    runtime,
    config,
    pgPort: postgres?.port,
    httpUrl: http?.url,
    adminUrl: admin?.url,
    drainMs: config.drainMs,
    postgres,
    http,
    admin,
    revision: bundle ? (bundle.revision.commit?.slice(0, 7) ?? bundle.revision.digest.slice(0, 12)) : undefined,
    async stop() {
      draining = true;
      log?.('gateway.draining', { deadlineMs: config.drainMs, sessions: postgres?.sessions() ?? 0 });
      await postgres?.close(config.drainMs);
      await http?.close();
      await admin?.close();
      await runtime.close();
    },
  };
}
