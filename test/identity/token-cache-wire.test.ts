/**
 * Through the HTTP listener: a token the gateway verified and remembered (its verification and its
 * identity) is refused once it expires, and the masked answer it got before was masked.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { curl, startHarness, type Harness } from '../http/harness.ts';
import { startUpstream, type Upstream } from '../http/upstream.ts';

let up: Upstream;
let h: Harness;

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({
    'targets/api.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:${up.port}/base
  classification:
    - name: pii
      fields: ["$..email"]
      strategy: redact
`,
    'policies/api.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: api-read }
spec:
  subjects: [{ group: support }]
  targets: [api]
  rules:
    - id: read
      effect: allow
      actions: [GET]
      resources: ["/**"]
`,
  });
});

afterAll(async () => {
  vi.useRealTimers();
  await h?.close();
  await up?.close();
});

describe('a remembered token', () => {
  it('is refused once it expires, although it was accepted (and remembered) before', async () => {
    const token = await h.token('support-agent', '2m');
    const auth = ['-H', `Authorization: Bearer ${token}`];
    for (let i = 0; i < 2; i++) {
      const ok = await curl([...auth, `${h.gateway.url}/api/users`]);
      expect(ok.status).toBe(200);
      expect(ok.body).not.toContain('ada@example.com');
    }
    // only Date moves: past exp and past the 30 s clock tolerance, sockets and timers as they are
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3 * 60_000);
    const refused = await curl([...auth, `${h.gateway.url}/api/users`]);
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('expired');
    expect(refused.body).not.toContain('ada@example.com');
    vi.useRealTimers();
  });
});
