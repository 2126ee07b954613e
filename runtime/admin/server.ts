/**
 * The admin server on the gateway's admin port: health and readiness probes, Prometheus metrics,
 * the JSON API approvers and the console use, and the console itself.
 *
 * Probes and metrics are unauthenticated (orchestrators and scrapers carry no token; the metrics
 * hold no identities or statements). Everything under /api needs a bearer token of a *human*
 * identity: sessions hold what agents did, and only people approve.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PortcullisError } from '../errors.ts';
import type { ApprovalService, ApprovalStatus } from '../approvals/types.ts';
import type { AuthenticatedSubject, GatewayContext } from '../gateway/context.ts';
import type { GatewayMetrics } from '../metrics/gateway.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/registry.ts';
import { CONSOLE_CSP, consoleAsset } from '../console/assets.ts';
import { bearerToken, readJson, SECURITY_HEADERS, sendError, sendJson, sendText } from './http-util.ts';
import { SessionsView } from './sessions-view.ts';
import { exportRecordings, formatRecordings } from '../recording/read.ts';
import { join } from 'node:path';

export interface AdminDeps {
  approvals: ApprovalService;
  metrics: GatewayMetrics;
  dataDir: string;
  host: string;
  /** 0 picks a free port */
  port: number;
  /** whether evidence can be written; default: the recorder's view of the evidence store */
  evidenceHealthy?: () => boolean;
  /** the runtime's own readiness (GatewayRuntime.status), which names the store's problem; overrides the two checks above */
  ready?: () => { ready: boolean; reason?: string; lastReload?: { ok: boolean; revision?: string; errors?: string[] }; notes?: string[] };
}

export interface AdminServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

const STATUSES = new Set<ApprovalStatus>(['pending', 'approved', 'denied', 'expired']);

export async function startAdminServer(ctx: GatewayContext, deps: AdminDeps): Promise<AdminServer> {
  const sessions = new SessionsView(deps.dataDir);
  const evidenceHealthy = deps.evidenceHealthy ?? (() => ctx.recorder.healthy());

  const authenticate = async (req: IncomingMessage): Promise<AuthenticatedSubject> => {
    let who: AuthenticatedSubject;
    try {
      who = await ctx.authenticate(bearerToken(req));
    } catch (error) {
      // The verifier's reason (expired, bad signature, unknown subject) helps the human fix the token.
      throw PortcullisError.is(error) ? error : new PortcullisError('unauthenticated', 'the token could not be verified', { cause: error });
    }
    if (who.kind !== 'human') {
      throw new PortcullisError('permission_denied', `${who.identity} is an agent identity; the admin API is for people`);
    }
    return who;
  };

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const who = await authenticate(req);
    const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const [resource, id, action] = parts;

    if (resource === 'me' && parts.length === 1 && method === 'GET') {
      return sendJson(res, 200, { identity: who.identity, groups: who.groups, kind: who.kind, expiresAt: who.expiresAt.toISOString() });
    }
    if (resource === 'approvals') {
      if (parts.length === 1 && method === 'GET') {
        const status = url.searchParams.get('status') ?? undefined;
        if (status !== undefined && !STATUSES.has(status as ApprovalStatus)) {
          throw new PortcullisError('invalid_argument', `status must be one of ${[...STATUSES].join(', ')}`);
        }
        return sendJson(res, 200, { approvals: await deps.approvals.list(status ? { status: status as ApprovalStatus } : {}) });
      }
      if (parts.length === 2 && method === 'GET') {
        const found = await deps.approvals.get(id as string);
        if (!found) throw new PortcullisError('not_found', `no approval request ${id}`);
        return sendJson(res, 200, { approval: found });
      }
      if (parts.length === 3 && method === 'POST' && (action === 'approve' || action === 'deny')) {
        const body = await readJson(req);
        const text = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
        const approval = action === 'approve' ? await deps.approvals.approve(id as string, who, text('note')) : await deps.approvals.deny(id as string, who, text('reason') ?? '');
        ctx.log(`admin.approval.${action}`, { id, by: who.identity, status: approval.status });
        return sendJson(res, 200, { approval });
      }
    }
    if (resource === 'grants' && parts.length === 1 && method === 'GET') {
      return sendJson(res, 200, { grants: await deps.approvals.grants({ live: url.searchParams.get('live') === '1' }) });
    }
    if (resource === 'sessions') {
      if (parts.length === 1 && method === 'GET') {
        const q = (k: string) => url.searchParams.get(k) || undefined;
        const filter = { agent: q('agent'), target: q('target'), effect: q('effect'), commit: q('commit') };
        const clean = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as Record<string, string>;
        return sendJson(res, 200, { sessions: await sessions.list(clean) });
      }
      if (parts.length === 2 && method === 'GET') return sendJson(res, 200, await sessions.get(id as string));
    }
    if (resource === 'recordings' && parts.length === 1 && method === 'GET') {
      // What `portcullis sessions export` writes, for `portcullis simulate --recordings URL`: policy CI
      // replays the gateway's own evidence, which no pull request can edit.
      return sendText(res, 200, formatRecordings(await exportRecordings(join(deps.dataDir, 'evidence'))), 'application/x-ndjson; charset=utf-8');
    }
    if (resource === 'bundles' && parts.length === 1 && method === 'GET') {
      return sendJson(res, 200, { bundles: await sessions.bundles() });
    }
    throw new PortcullisError('not_found', `no ${method} ${url.pathname} in the admin API`);
  };

  const ready = (): { ok: boolean; reasons: string[]; notes?: string[] } => {
    if (deps.ready) {
      const s = deps.ready();
      // Still ready on the last good bundle, but a rejected change is worth saying out loud.
      const last = s.lastReload;
      const notes = last && !last.ok ? [`last reload rejected${last.revision ? ` (commit ${last.revision})` : ''}: ${last.errors?.[0] ?? 'see the gateway log'}`] : [];
      notes.push(...(s.notes ?? []));
      return { ok: s.ready, reasons: s.ready ? [] : [s.reason ?? 'not ready'], notes };
    }
    const reasons: string[] = [];
    if (!ctx.bundle()) reasons.push('no valid policy bundle is live');
    if (!evidenceHealthy()) reasons.push('the evidence store is not writable');
    return { ok: reasons.length === 0, reasons };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const method = req.method ?? 'GET';
    try {
      if (url.pathname.startsWith('/api/')) return await api(req, res, url);
      if (method !== 'GET' && method !== 'HEAD') throw new PortcullisError('not_found', `no ${method} ${url.pathname}`);
      switch (url.pathname) {
        case '/healthz':
          return sendText(res, 200, 'ok\n');
        case '/readyz': {
          const r = ready();
          const notes = r.notes?.length ? `${r.notes.join('\n')}\n` : '';
          return sendText(res, r.ok ? 200 : 503, (r.ok ? 'ready\n' : `not ready: ${r.reasons.join('; ')}\n`) + notes);
        }
        case '/metrics':
          return sendText(res, 200, await deps.metrics.render(), PROMETHEUS_CONTENT_TYPE);
      }
      const asset = await consoleAsset(url.pathname);
      if (!asset) throw new PortcullisError('not_found', `no ${url.pathname}`);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-security-policy': CONSOLE_CSP, 'cache-control': 'no-cache', 'content-length': asset.body.length });
      res.end(method === 'HEAD' ? undefined : asset.body);
    } catch (error) {
      if (!res.headersSent) sendError(res, error, ctx.log);
      else res.destroy();
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') {
      throw new PortcullisError('unavailable', `admin port ${deps.port} is already in use`, { cause: error, details: { hint: 'pass another --admin-port, or stop the other process' } });
    }
    throw error;
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = deps.host.includes(':') ? `[${deps.host}]` : deps.host;
  ctx.log('admin.listening', { host: deps.host, port });
  return {
    port,
    url: `http://${hostForUrl}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
