/**
 * A real gateway context for admin and console tests: the example bundle, the dev token issuer, a
 * file evidence store (with a switch to make its writes fail), a recorder, the file approval service,
 * metrics and the admin server on a free port. Built from the same parts as startGatewayRuntime, so
 * the test can flip the live bundle and the evidence store's health.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../../runtime/bundle/load.ts';
import type { Bundle } from '../../runtime/bundle/model.ts';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import type { FileEvidenceStore } from '../../runtime/evidence/store.ts';
import { openEvidenceStore } from '../../runtime/state/evidence.ts';
import { breakableDisk } from '../evidence/helpers.ts';
import type { AuthenticatedSubject, GatewayContext } from '../../runtime/gateway/context.ts';
import { ensureDevIssuer, issueToken } from '../../runtime/identity/dev-key.ts';
import { createTokenVerifier } from '../../runtime/identity/verify.ts';
import { resolveIdentity, type IdentitySpec } from '../../runtime/identity/resolve.ts';
import { Recorder } from '../../runtime/recording/recorder.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { FileApprovalService, combineNotifiers, type ApprovalNotifier } from '../../runtime/approvals/index.ts';
import { GatewayMetrics } from '../../runtime/metrics/gateway.ts';
import { startAdminServer, type AdminServer } from '../../runtime/admin/server.ts';
import { bundleChanges } from '../../runtime/bundle/changes.ts';

export interface GatewayFixture {
  dataDir: string;
  ctx: GatewayContext;
  bundle: Bundle;
  store: FileEvidenceStore;
  recorder: Recorder;
  approvals: FileApprovalService;
  metrics: GatewayMetrics;
  admin: AdminServer;
  setBundle(b: Bundle | undefined): void;
  /** make the evidence log's fsync fail (true) or work again (false) */
  breakEvidence(broken: boolean): void;
  token(subject: string, ttl?: string): Promise<string>;
  /** a recorded session of `identity` on shop-db running the statements, with masked samples */
  recordSession(identity: string, statements: { sql: string; sample?: unknown[]; rows?: number; maskedValues?: number }[]): Promise<string>;
  close(): Promise<void>;
}

export async function gatewayFixture(opts: { notifier?: ApprovalNotifier } = {}): Promise<GatewayFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pc-admin-'));
  const disk = breakableDisk();
  // Opened as the gateway opens it: key and witness outside the evidence directory.
  const store = (await openEvidenceStore(dataDir, undefined, disk.evidence)).store as FileEvidenceStore;
  const bundle = await loadBundle('policies');
  let live: Bundle | undefined = bundle;
  // as the runtime records a load: what changed (here: everything, a first load) and the pull request
  await store.append('bundle.loaded', {
    revision: bundle.revision,
    files: bundle.files.length,
    changes: bundleChanges(undefined, bundle),
    subject: 'Merge pull request #42 from acme/support-products',
    pullRequest: { number: 42, url: 'https://github.com/acme/policies/pull/42' },
  });
  await store.append('bundle.rejected', { errors: ['policies/data.yaml:3:1: example rejected reload'], live: bundle.revision });
  const recorder = new Recorder(store);
  const dev = await ensureDevIssuer(dataDir);
  const verifier = createTokenVerifier({ issuer: dev.issuer, audience: dev.audience, jwks: { file: dev.jwksPath } });
  const identities: IdentitySpec[] = [...bundle.identities.values()].map((i) => ({
    name: i.doc.metadata.name,
    kind: i.doc.spec.kind,
    match: i.doc.spec.match as IdentitySpec['match'],
    groups: i.doc.spec.groups ?? [],
  }));
  const logs: { event: string; fields?: Record<string, unknown> }[] = [];
  const ctx: GatewayContext = {
    bundle: () => live,
    async authenticate(token): Promise<AuthenticatedSubject> {
      const verified = await verifier.verify(token);
      const identity = resolveIdentity(identities, verified);
      return { identity: identity.name, groups: identity.groups, kind: identity.kind, tokenSubject: verified.subject, issuer: verified.issuer, expiresAt: verified.expiresAt };
    },
    recorder,
    now: () => new Date(),
    log: (event, fields) => void logs.push({ event, ...(fields ? { fields } : {}) }),
  };
  let approvals!: FileApprovalService;
  const metrics = new GatewayMetrics({ pendingApprovals: () => approvals.pendingCount(), activeSessions: () => recorder.activeSessions().length });
  approvals = await FileApprovalService.open({ dataDir, evidence: store, notifier: combineNotifiers(opts.notifier, metrics.approvalNotifier()), log: ctx.log });
  const admin = await startAdminServer(ctx, { approvals, metrics, dataDir, host: '127.0.0.1', port: 0 });

  return {
    dataDir,
    ctx,
    bundle,
    store,
    recorder,
    approvals,
    metrics,
    admin,
    setBundle: (b) => void (live = b),
    breakEvidence: (b) => disk.fail(b ? () => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }) : undefined),
    token: async (subject, ttl = '10m') => (await issueToken({ dataDir, subject, ttl })).token,
    async recordSession(identity, statements) {
      const subject = { identity, groups: bundle.identities.get(identity)?.doc.spec.groups ?? [] };
      const { sessionId } = await recorder.startSession({
        identity,
        kind: 'agent',
        groups: [...subject.groups],
        target: 'shop-db',
        protocol: 'postgres',
        client: { address: '127.0.0.1', port: 50000 },
        revision: bundle.revision,
        attributes: { application_name: 'psql' },
      });
      for (const s of statements) {
        const [request] = buildRequests(bundle, { as: identity, target: 'shop-db', sql: s.sql }) as [Request];
        const decision = decide(bundle, request);
        const { seq } = await recorder.recordDecision({ sessionId, request, decision });
        if (decision.effect === 'allow') {
          await recorder.recordResult({
            sessionId,
            seq,
            status: 'ok',
            durationMs: 3,
            rows: s.rows ?? s.sample?.length ?? 0,
            ...(s.maskedValues ? { maskedValues: s.maskedValues } : {}),
            ...(s.sample ? { sample: s.sample } : {}),
          });
        }
        metrics.observeDecision({ effect: decision.effect, target: 'shop-db', protocol: 'postgres', durationMs: 1.5 });
        if (s.maskedValues) metrics.observeMasked('shop-db', s.maskedValues);
      }
      return sessionId;
    },
    async close() {
      await admin.close();
      await approvals.close();
      await recorder.endAll('test-end');
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
