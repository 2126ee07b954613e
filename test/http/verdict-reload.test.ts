/**
 * Through the wire, on one keep-alive connection: an allowed HTTP request decided once is not
 * allowed (or left unmasked) after a reload changes the policy or the classification, and a
 * different path or method on the same connection is decided on its own. The gateway reuses allowed
 * verdicts per bundle (runtime/protocols/http/verdicts.ts); this is what keeps that honest.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { startUpstream, type Upstream } from './upstream.ts';

const target = (port: number, classified: boolean) => `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:${port}/base
${
  classified
    ? `  classification:
    - name: pii
      fields: ["$..email"]
      strategy: redact
`
    : ''
}`;

const policy = (resources: string) => `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: reads }
spec:
  subjects: [{ group: support }]
  targets: [api]
  rules:
    - { id: read, effect: allow, actions: [GET], resources: ${resources} }
`;

let up: Upstream;
let h: Harness;
let token: string;
// one connection, as an agent's HTTP client keeps it
const agent = new Agent({ connections: 1, pipelining: 0 });

async function get(path: string, method: 'GET' | 'DELETE' = 'GET'): Promise<{ status: number; body: string }> {
  const r = await request(`${h.gateway.url}/api${path}`, { method, dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, body: await r.body.text() };
}

async function reloadWith(files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) await writeFile(join(h.dir, 'policies', path), text);
  const outcome = await h.runtime.reload();
  expect(outcome).toMatchObject({ ok: true });
}

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({ 'targets/t.yaml': target(up.port, false), 'policies/p.yaml': policy('["/**"]') });
  token = await h.token('support-agent');
});

afterAll(async () => {
  await agent.close();
  await h?.close();
  await up?.close();
});

describe('HTTP verdicts across reloads', () => {
  it('decides again after a reload: a revoked path is refused, a new classification is masked', async () => {
    const before = await get('/users');
    expect(before.status).toBe(200);
    expect(before.body).toContain('ada@example.com');
    // the same request again, now from the verdict cache
    expect((await get('/users')).body).toContain('ada@example.com');

    await reloadWith({ 'targets/t.yaml': target(up.port, true) });
    const masked = await get('/users');
    expect(masked.status).toBe(200);
    expect(masked.body).not.toContain('ada@example.com');
    expect(masked.body).not.toContain('ada.home@example.org');

    await reloadWith({ 'policies/p.yaml': policy('["/echo"]') });
    expect((await get('/users')).status).toBe(403);
    expect((await get('/echo')).status).toBe(200);
  });

  it('decides a different method or path on the same connection on its own', async () => {
    await reloadWith({ 'policies/p.yaml': policy('["/users"]'), 'targets/t.yaml': target(up.port, false) });
    expect((await get('/users')).status).toBe(200);
    expect((await get('/users')).status).toBe(200);
    expect((await get('/users', 'DELETE')).status).toBe(403);
    expect((await get('/users/1')).status).toBe(403);
    expect((await get('/users?x=1')).status).toBe(200);
  });

  it('records each request in full, whether decided or cached', async () => {
    const records = (await h.evidence(['decision'])).filter((r) => r.data.request?.path === '/users' && r.data.request?.method === 'GET');
    expect(records.length).toBeGreaterThanOrEqual(4);
    for (const r of records) {
      expect(r.data.request).toMatchObject({ protocol: 'http', target: 'api', subject: { identity: 'support-agent' } });
      expect(typeof r.data.request.at).toBe('string');
      expect(r.data.decision.effect).toMatch(/^(allow|deny)$/);
    }
  });
});
