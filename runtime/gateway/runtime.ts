/**
 * The gateway process: one live bundle, one token verifier, one evidence store and recorder,
 * shared by every protocol listener through a GatewayContext.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { keyIdOf, toPublicKey } from '../evidence/keys.ts';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import { loadLintedBundle } from '../lint/gate.ts';
import { formatDiagnostic } from '../bundle/diagnostics.ts';
import { shortRevision } from '../bundle/revision.ts';
import { createTokenVerifier, type TokenVerifier, type JwksSource } from '../identity/verify.ts';
import { checkTokenLifetime } from '../identity/lifetime.ts';
import { resolveIdentity, type IdentitySpec } from '../identity/resolve.ts';
import { ensureDevIssuer } from '../identity/dev-key.ts';
import type { FileEvidenceStoreOptions } from '../evidence/store.ts';
import { openEvidenceStore, storeProblem, type StateOptions } from '../state/evidence.ts';
import { watchEvidenceStore } from '../state/watchdog.ts';
import { Recorder } from '../recording/recorder.ts';
import type { AuthenticatedSubject, GatewayContext } from './context.ts';
import { watchPolicies } from '../gitops/watch.ts';
import { FileApprovalService, WebhookNotifier, combineNotifiers } from '../approvals/index.ts';
import type { ApprovalService } from '../approvals/types.ts';
import { PostgresApprovalService } from '../approvals/postgres-service.ts';
import { GatewayMetrics } from '../metrics/gateway.ts';
import { BranchFollower, type Snapshot } from '../gitops/follow.ts';
import { bundleChanges, commitInfo } from '../bundle/changes.ts';
import { gatewayDefaults } from './config.ts';

export interface IdentityProviderConfig {
  issuer: string | string[];
  audience: string;
  jwks: JwksSource;
}

export interface GitSource {
  url: string;
  branch: string;
  pollMs: number;
  /** folder of the policy repo inside the git repository (default: its root) */
  path?: string;
  requireSignedCommits?: boolean;
}

export interface GatewayRuntimeOptions {
  /** a policy folder (watched for changes unless `watch` is false) */
  policies: string;
  /** follow a git branch instead of reading `policies` from disk */
  git?: GitSource;
  watch?: boolean;
  dataDir: string;
  /** trusted token issuer; default: the development issuer under the data dir */
  identity?: IdentityProviderConfig;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** a PostgreSQL state database shared by replicas; default: the file store under dataDir */
  state?: StateOptions;
  /** POST each new approval request and its outcome here (Slack-compatible JSON) */
  approvalWebhook?: string;
  /** link approvers to the console in webhook messages */
  consoleUrl?: string;
  /** how long a review holds the agent's request waiting for approvers; default gatewayDefaults.reviewHoldMs (0: answer at once) */
  reviewHoldMs?: number;
  /**
   * Serve a bundle that loads even when lint reports errors. Only for tests of protocol behaviour whose
   * fixtures are deliberately permissive; the CLI never sets it, so a deployed gateway always gates.
   */
  acceptLintErrors?: boolean;
  /** evidence signing key and tuning (`openFile` is for fault-injection tests of the file store) */
  evidence?: FileEvidenceStoreOptions;
  /** `portcullis up` only: accept an evidence key file inside the evidence directory */
  allowKeyInEvidenceDir?: boolean;
}

export interface ReloadOutcome {
  ok: boolean;
  /** nothing changed (git: the branch did not move) */
  unchanged?: boolean;
  revision?: string;
  errors?: string[];
  /** which check refused the bundle: the loader (shape, references) or lint (the same catalogue as `portcullis lint`) */
  stage?: 'load' | 'lint' | 'record';
}

export interface RuntimeStatus {
  /** a valid bundle is live and evidence can be written */
  ready: boolean;
  reason?: string;
  revision?: string;
  reloads: { ok: number; rejected: number };
  lastReload?: ReloadOutcome & { at: string };
  /** the name stamped on this replica's evidence */
  replica?: string;
  /** standing conditions that do not make the gateway unready, e.g. a classified column renamed behind the policy */
  notes?: string[];
  evidence?: {
    store: 'file' | 'postgres';
    healthy: boolean;
    error?: string;
    /** the head witness; `problem` when it cannot be written (decisions go on: the chain is intact, only less anchored) */
    witness?: { path: string; problem?: string };
  };
}

export interface GatewayRuntime {
  ctx: GatewayContext;
  approvals: ApprovalService;
  metrics: GatewayMetrics;
  dataDir: string;
  /** load the policy repo again (git: fetch first); a bad bundle keeps the last good one live */
  reload(): Promise<ReloadOutcome>;
  status(): RuntimeStatus;
  maskKey: Buffer;
  close(): Promise<void>;
}

const identityCache = new WeakMap<Bundle, IdentitySpec[]>();

function identitiesOf(bundle: Bundle): IdentitySpec[] {
  const hit = identityCache.get(bundle);
  if (hit) return hit;
  const specs: IdentitySpec[] = [...bundle.identities.values()].map((i) => ({
    name: i.doc.metadata.name,
    kind: i.doc.spec.kind,
    // the schema's index signature allows undefined values; YAML never produces them
    match: i.doc.spec.match as IdentitySpec['match'],
    groups: i.doc.spec.groups ?? [],
  }));
  identityCache.set(bundle, specs);
  return specs;
}

function witnessOf(inner: unknown): { witness?: { path: string; problem?: string } } {
  const witness = (inner as { witnessStatus?: () => { path: string; problem?: string } | undefined }).witnessStatus?.();
  return witness ? { witness } : {};
}

/** What a gateway.started record says: who runs, where its evidence is anchored and signed. */
function gatewayFacts(replica: string, store: 'file' | 'postgres', inner: unknown): Record<string, unknown> {
  const key = (inner as { publicKey?: () => KeyObject | undefined }).publicKey?.();
  const witness = (inner as { witnessStatus?: () => { path: string } | undefined }).witnessStatus?.();
  return { replica, pid: process.pid, host: hostname(), store, ...(key ? { keyId: keyIdOf(key) } : {}), ...(witness ? { witness: witness.path } : {}) };
}

/**
 * Checkpoints signed by a key the policy repo does not pin fail `evidence verify`: say so at start,
 * with the command that pins it, rather than when an auditor first runs verify.
 */
function warnUnpinnedKey(bundle: Bundle | undefined, inner: unknown, log: (event: string, fields?: Record<string, unknown>) => void): void {
  const key = (inner as { publicKey?: () => KeyObject | undefined }).publicKey?.();
  if (!bundle || !key) return;
  const keyId = keyIdOf(key);
  const pinned = (bundle.repository.spec?.evidence?.keys ?? []).flatMap((k) => {
    try {
      return [keyIdOf(toPublicKey(k.publicKey))];
    } catch {
      return [];
    }
  });
  if (!pinned.includes(keyId)) log('evidence.key-not-pinned', { keyId, hint: 'pin it in portcullis.yaml (`portcullis evidence pin-key`) so `portcullis evidence verify` trusts its checkpoints' });
}

/** A secret the gateway keeps across restarts (the hash-masking key), created on first use. */
async function persistentKey(dataDir: string, name: string): Promise<Buffer> {
  const path = join(dataDir, name);
  try {
    return Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
  } catch {
    const key = randomBytes(32);
    await writeFile(path, key.toString('hex') + '\n', { mode: 0o600 });
    return key;
  }
}

export async function startGatewayRuntime(opts: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = opts.log ?? ((event, fields) => process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`));

  let live: Bundle | undefined;
  const opened = await openEvidenceStore(dataDir, opts.state, opts.evidence, { ...(opts.allowKeyInEvidenceDir ? { allowKeyInEvidenceDir: true } : {}) });
  const { kind: storeKind, replica } = opened;
  const store = watchEvidenceStore(opened.store, { replica, log });
  // Starts and stops are part of the record: an auditor sees every window the gateway ran in. An
  // unwritable store at start does not stop the start (requests are refused until it recovers).
  await store
    .append('gateway.started', gatewayFacts(replica, storeKind, opened.store))
    .catch((err: unknown) => log('evidence.unwritable', { record: 'gateway.started', error: PortcullisError.from(err).message }));
  const recorder = new Recorder(store);
  const metrics: GatewayMetrics = new GatewayMetrics({
    pendingApprovals: () => approvals.pendingCount(),
    activeSessions: () => recorder.activeSessions().length,
  });
  const approvalNotifier = combineNotifiers(
    opts.approvalWebhook ? new WebhookNotifier({ url: opts.approvalWebhook, ...(opts.consoleUrl ? { consoleUrl: opts.consoleUrl } : {}) }) : undefined,
    metrics.approvalNotifier(),
  );
  // Replicas share approvals and grants through the state database, as they share evidence.
  const approvals: ApprovalService = opts.state
    ? await PostgresApprovalService.open({ url: opts.state.postgres, replica, evidence: store, log, notifier: approvalNotifier })
    : await FileApprovalService.open({ dataDir, evidence: store, log, notifier: approvalNotifier });

  const counts = { ok: 0, rejected: 0 };
  let lastReload: (ReloadOutcome & { at: string }) | undefined;
  const follower = opts.git
    ? new BranchFollower({ url: opts.git.url, branch: opts.git.branch, dir: join(dataDir, 'git'), requireSignedCommits: opts.git.requireSignedCommits ?? gatewayDefaults.git.requireSignedCommits })
    : undefined;

  const reject = async (errors: string[], revision?: string, stage?: 'load' | 'lint' | 'record'): Promise<ReloadOutcome> => {
    lastReload = { ok: false, errors, ...(revision ? { revision } : {}), ...(stage ? { stage } : {}), at: new Date().toISOString() };
    counts.rejected++;
    metrics.observeReload(false);
    log('bundle.rejected', { errors: errors.length, first: errors[0], ...(revision ? { commit: revision } : {}), ...(stage ? { stage } : {}) });
    await store.append('bundle.rejected', { errors, commit: revision ?? null, live: live ? live.revision : null, ...(stage ? { stage } : {}) }).catch(() => {});
    return { ok: false, errors, ...(revision ? { revision } : {}), ...(stage ? { stage } : {}) };
  };

  const load = async (): Promise<ReloadOutcome> => {
    let dir = opts.policies;
    let git: { commit: string | null; dirty: boolean } | undefined;
    let snapshot: Snapshot | undefined;
    if (follower) {
      try {
        snapshot = await follower.poll();
      } catch (err) {
        return reject([PortcullisError.from(err).describe()]);
      }
      if (!snapshot) return { ok: true, unchanged: true, ...(live ? { revision: shortRevision(live.revision) } : {}) };
      dir = opts.git?.path ? join(snapshot.path, opts.git.path) : snapshot.path;
      git = { commit: snapshot.commit, dirty: false };
    }
    try {
      // Only a bundle that `portcullis lint` passes goes live (warnings and reasoned suppressions pass).
      const r = await loadLintedBundle(dir, { ...(git ? { git } : {}), acceptLintErrors: opts.acceptLintErrors ?? false });
      if (!r.bundle) return reject(r.errors.map(formatDiagnostic), snapshot?.commit.slice(0, 7), r.stage);
      const previous = live;
      // The record first: a bundle is never served without a durable record of it going live.
      const recorded = await recordBundleLoaded(r.bundle, previous, {
        ...(r.lint ? { lint: r.lint } : {}),
        changes: bundleChanges(previous, r.bundle),
        ...(await commitInfo(dir, r.bundle.revision.commit)),
      });
      if (recorded) return reject([recorded], snapshot?.commit.slice(0, 7), 'record');
      live = r.bundle;
      if (snapshot) await follower!.accept(snapshot);
      lastReload = { ok: true, revision: shortRevision(live.revision), at: new Date().toISOString() };
      counts.ok++;
      metrics.observeReload(true);
      log('bundle.loaded', { revision: shortRevision(live.revision), rules: live.index.ruleCount });
      return { ok: true, revision: shortRevision(live.revision) };
    } catch (err) {
      return reject([PortcullisError.from(err).describe()]);
    }
  };

  /** undefined once the record is durable, else why the bundle cannot go live (a retry is scheduled) */
  let retry: NodeJS.Timeout | undefined;
  // `facts`: what lint said, what changed and which commit (and pull request) brought it, for the console's bundle history.
  const recordBundleLoaded = async (bundle: Bundle, previous: Bundle | undefined, facts: Record<string, unknown>): Promise<string | undefined> => {
    try {
      await store.append('bundle.loaded', { revision: bundle.revision, previous: previous ? previous.revision : null, files: bundle.files.length, ...facts });
      return undefined;
    } catch (err) {
      // Nothing else would load it once evidence is writable again (no file changes, no poll): the
      // gateway does, as soon as the store is healthy (the watchdog brings it back).
      if (!retry && !closed) {
        retry = setInterval(() => {
          if (!store.healthy()) return;
          clearInterval(retry);
          retry = undefined;
          void reload();
        }, 500);
        retry.unref();
      }
      return `revision ${shortRevision(bundle.revision)} does not go live: its bundle.loaded record could not be written (${PortcullisError.from(err).message})`;
    }
  };
  let closed = false;

  // Reloads run one at a time; a request during one waits for it and gets its outcome.
  let inFlight: Promise<ReloadOutcome> | undefined;
  const reload = (): Promise<ReloadOutcome> => {
    inFlight ??= load().finally(() => (inFlight = undefined));
    return inFlight;
  };
  await reload();
  warnUnpinnedKey(live, opened.store, log);
  const watcher = !follower && (opts.watch ?? gatewayDefaults.watch) ? watchPolicies(opts.policies, reload) : undefined;
  const poller = follower ? setInterval(() => void reload(), opts.git!.pollMs) : undefined;
  poller?.unref();

  let verifier: TokenVerifier;
  if (opts.identity) {
    verifier = createTokenVerifier({ issuer: opts.identity.issuer, audience: opts.identity.audience, jwks: opts.identity.jwks });
  } else {
    const dev = await ensureDevIssuer(dataDir);
    verifier = createTokenVerifier({ issuer: dev.issuer, audience: dev.audience, jwks: { file: dev.jwksPath } });
  }

  /** standing conditions shown on /readyz (see GatewayContext.note): one per renamed classified column */
  const notes = new Map<string, string>();
  const ctx: GatewayContext = {
    bundle: () => live,
    async authenticate(token: string): Promise<AuthenticatedSubject> {
      const verified = await verifier.verify(token);
      const bundle = live;
      if (!bundle) throw new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle yet');
      const identity = resolveIdentity(identitiesOf(bundle), verified);
      checkTokenLifetime(verified, identity.name, bundle, new Date());
      return {
        identity: identity.name,
        groups: identity.groups,
        kind: identity.kind,
        tokenSubject: verified.subject,
        issuer: verified.issuer,
        expiresAt: verified.expiresAt,
      };
    },
    recorder,
    now: () => new Date(),
    log,
    approvals,
    reviewHoldMs: opts.reviewHoldMs ?? gatewayDefaults.reviewHoldMs,
    metrics,
    note: (key, text) => void notes.set(key, text),
  };

  return {
    ctx,
    approvals,
    metrics,
    dataDir,
    reload: () => {
      follower?.forget();
      return reload();
    },
    status() {
      const healthy = store.healthy();
      const problem = healthy ? undefined : storeProblem(store.inner);
      const reason = !live
        ? `no valid policy bundle is live${lastReload?.stage === 'lint' ? `: lint found ${lastReload.errors?.length ?? 0} error(s) in the bundle; first: ${lastReload.errors?.[0]?.split('\n')[0]}` : ''}`
        : !healthy
          ? `the evidence store is not writable${problem ? `: ${problem}` : ''}`
          : undefined;
      return {
        ready: reason === undefined,
        ...(reason ? { reason } : {}),
        ...(live ? { revision: shortRevision(live.revision) } : {}),
        reloads: { ...counts },
        ...(lastReload ? { lastReload } : {}),
        replica,
        evidence: { store: storeKind, healthy, ...(problem ? { error: problem } : {}), ...witnessOf(opened.store) },
        ...(notes.size > 0 ? { notes: [...notes.values()].slice(0, 50) } : {}),
      };
    },
    maskKey: await persistentKey(dataDir, 'mask.key'),
    async close() {
      closed = true;
      if (poller) clearInterval(poller);
      if (retry) clearInterval(retry);
      await watcher?.close();
      await recorder.endAll('gateway-shutdown');
      await approvals.close();
      await store.append('gateway.stopped', { replica, reason: 'shutdown', revision: live ? live.revision : null }).catch(() => undefined);
      await store.close();
    },
  };
}
