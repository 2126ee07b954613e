import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { parsePrometheus, sampleValue } from '../metrics/prometheus.ts';
import { gatewayFixture, type GatewayFixture } from './gateway-fixture.ts';

let g: GatewayFixture;
let alice: string;
let bob: string;
let agent: string;

beforeAll(async () => {
  g = await gatewayFixture();
  [alice, bob, agent] = await Promise.all([g.token('alice'), g.token('bob'), g.token('data-agent')]);
});
afterAll(async () => {
  await g?.close();
});

async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const res = await request(`${g.admin.url}${path}`, {
    method: method as 'GET',
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

async function pendingDelete(id: number, sessionId = 'sess-api') {
  const [req] = buildRequests(g.bundle, { as: 'data-agent', target: 'shop-db', sql: `DELETE FROM orders WHERE id = ${id}` }) as [Request];
  const decision = decide(g.bundle, req);
  const review = { ...decision.review!, grantTtlMs: undefined, grantScope: undefined };
  delete review.grantTtlMs;
  delete review.grantScope;
  return g.approvals.request({ subject: req.subject, sessionId, target: 'shop-db', request: req, decision: { ...decision, review } });
}

describe('probes', () => {
  it('/healthz answers while the process runs', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
  });

  it('/readyz is 503 with the reason without a live bundle or with a failing evidence store', async () => {
    expect(await call('GET', '/readyz')).toMatchObject({ status: 200, text: 'ready\n' });
    g.setBundle(undefined);
    expect(await call('GET', '/readyz')).toMatchObject({ status: 503, text: 'not ready: no valid policy bundle is live\n' });
    g.setBundle(g.bundle);
    g.breakEvidence(true);
    await expect(g.store.append('probe', {})).rejects.toThrow(/not writable/);
    expect(await call('GET', '/readyz')).toMatchObject({ status: 503, text: 'not ready: the evidence store is not writable\n' });
    g.breakEvidence(false);
    await g.store.append('probe', {});
    expect((await call('GET', '/readyz')).status).toBe(200);
  });
});

describe('/metrics', () => {
  it('is Prometheus text with decisions, latency, masked values, pending approvals and reloads', async () => {
    await g.recordSession('support-agent', [{ sql: 'SELECT id, email FROM customers LIMIT 2', sample: [{ id: 1, email: 'a***@example.com' }], maskedValues: 2 }, { sql: 'DELETE FROM customers' }]);
    g.metrics.observeReload(true);
    const pending = await pendingDelete(1001, 'sess-metrics');
    const res = await call('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain; version=0.0.4');
    const f = parsePrometheus(res.text);
    expect(sampleValue(f, 'portcullis_decisions_total', { effect: 'allow', target: 'shop-db' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(f, 'portcullis_decisions_total', { effect: 'deny', target: 'shop-db' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(f, 'portcullis_decision_duration_seconds_count', { protocol: 'postgres' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(f, 'portcullis_masked_values_total', { target: 'shop-db' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(f, 'portcullis_approvals_pending')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(f, 'portcullis_bundle_reloads_total', { result: 'ok' })).toBe(1);
    await g.approvals.deny(pending.id, await g.ctx.authenticate(alice), 'metrics test');
  });
});

describe('approvals API', () => {
  it('needs a valid token of a human identity', async () => {
    expect((await call('GET', '/api/approvals')).status).toBe(401);
    const bad = await call('GET', '/api/approvals', { token: 'not-a-jwt' });
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe('unauthenticated');
    expect(bad.json.error).not.toHaveProperty('cause');
    const asAgent = await call('GET', '/api/approvals', { token: agent });
    expect(asAgent.status).toBe(403);
    expect(asAgent.json.error.message).toMatch(/agent identity/);
    expect((await call('GET', '/api/me', { token: alice })).json).toMatchObject({ identity: 'alice', groups: ['dba', 'finance'], kind: 'human' });
  });

  it('lists, shows, approves and denies, enforcing approver groups', async () => {
    const a = await pendingDelete(7);
    const b = await pendingDelete(8);
    const list = await call('GET', '/api/approvals?status=pending', { token: alice });
    expect(list.status).toBe(200);
    expect(list.json.approvals.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect((await call('GET', '/api/approvals?status=bogus', { token: alice })).status).toBe(400);
    const shown = await call('GET', `/api/approvals/${a.id}`, { token: alice });
    expect(shown.json.approval).toMatchObject({ id: a.id, summary: 'DELETE FROM orders WHERE id = 7', status: 'pending' });
    expect((await call('GET', '/api/approvals/ap-nope', { token: alice })).status).toBe(404);

    const byBob = await call('POST', `/api/approvals/${a.id}/approve`, { token: bob, body: {} });
    expect(byBob.status).toBe(403);
    expect(byBob.json.error.message).toMatch(/not in an approver group/);

    const ok = await call('POST', `/api/approvals/${a.id}/approve`, { token: alice, body: { note: 'duplicate order' } });
    expect(ok.status).toBe(200);
    expect(ok.json.approval).toMatchObject({ status: 'approved', approvals: [{ identity: 'alice', note: 'duplicate order' }] });

    const noReason = await call('POST', `/api/approvals/${b.id}/deny`, { token: alice, body: {} });
    expect(noReason.status).toBe(400);
    const denied = await call('POST', `/api/approvals/${b.id}/deny`, { token: alice, body: { reason: 'wrong id' } });
    expect(denied.json.approval).toMatchObject({ status: 'denied', denial: { identity: 'alice', reason: 'wrong id' } });
    const again = await call('POST', `/api/approvals/${b.id}/approve`, { token: alice, body: {} });
    expect(again.status).toBe(409);
    expect(again.json.error.message).toMatch(/final/);

    expect((await call('POST', `/api/approvals/${a.id}/approve`, { token: alice, body: {} })).json.error.message).toMatch(/already approved/);
    expect((await call('POST', `/api/approvals/${a.id}/approve`, { token: alice, body: [1] })).status).toBe(400);
  });

  it('refuses a malformed body', async () => {
    const res = await request(`${g.admin.url}/api/approvals/x/approve`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: '{not json' });
    expect(res.statusCode).toBe(400);
    await res.body.dump();
  });
});

describe('sessions API', () => {
  it('lists sessions with filters and shows one as a timeline', async () => {
    const sid = await g.recordSession('data-agent', [
      { sql: 'SELECT id, email FROM customers LIMIT 1', sample: [{ id: 1, email: '5f2c…' }], maskedValues: 1 },
      { sql: 'DELETE FROM orders WHERE id = 3' },
    ]);
    const all = await call('GET', '/api/sessions', { token: alice });
    expect(all.json.sessions.some((s: { sessionId: string }) => s.sessionId === sid)).toBe(true);
    const byAgent = await call('GET', '/api/sessions?agent=data-agent&effect=review', { token: alice });
    expect(byAgent.json.sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual([sid]);
    expect((await call('GET', '/api/sessions?target=billing-api', { token: alice })).json.sessions).toEqual([]);
    const commit = g.bundle.revision.commit ?? g.bundle.revision.digest;
    expect((await call('GET', `/api/sessions?commit=${commit.slice(0, 7)}&agent=data`, { token: alice })).json.sessions.length).toBe(1);
    expect((await call('GET', '/api/sessions?commit=ffffffff', { token: alice })).json.sessions).toEqual([]);

    const one = await call('GET', `/api/sessions/${sid}`, { token: alice });
    expect(one.status).toBe(200);
    expect(one.json.summary).toMatchObject({ identity: 'data-agent', target: 'shop-db', requests: 2, effects: { allow: 1, review: 1, deny: 0 } });
    expect(one.json.timeline[0]).toMatchObject({ seq: 1, effect: 'allow', summary: 'SELECT id, email FROM customers LIMIT 1', result: { sample: [{ id: 1, email: '5f2c…' }], maskedValues: 1 } });
    expect(one.json.timeline[1]).toMatchObject({ seq: 2, effect: 'review', rules: ['data-maintenance/deletes-need-dba'] });
    expect((await call('GET', '/api/sessions/nope', { token: alice })).status).toBe(404);
  });

  it('exports the recorded requests as JSON lines for policy CI (simulate --recordings URL)', async () => {
    const sid = await g.recordSession('data-agent', [{ sql: 'SELECT id FROM orders WHERE id = 9' }]);
    expect((await call('GET', '/api/recordings')).status).toBe(401);
    expect((await call('GET', '/api/recordings', { token: agent })).status).toBe(403);
    const res = await call('GET', '/api/recordings', { token: alice });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ sessionId: sid, seq: 1, request: expect.objectContaining({ target: 'shop-db' }), decision: expect.objectContaining({ effect: 'allow' }) }));
  });

  it('shows bundle history newest first', async () => {
    const res = await call('GET', '/api/bundles', { token: alice });
    expect(res.json.bundles.map((b: { type: string }) => b.type)).toEqual(['bundle.rejected', 'bundle.loaded']);
    expect(res.json.bundles[0].errors[0]).toMatch(/example rejected reload/);
  });
});

describe('console files', () => {
  it('serves the console with a strict content security policy, and nothing else from disk', async () => {
    const index = await call('GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(String(index.headers['content-security-policy'])).toContain("script-src 'self'");
    expect((await call('GET', '/app.js')).headers['content-type']).toContain('javascript');
    expect((await call('GET', '/../server.ts')).status).toBe(404);
    expect((await call('GET', '/assets.ts')).status).toBe(404);
  });
});
