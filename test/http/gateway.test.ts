/**
 * The HTTP reverse proxy end to end: a real upstream, the real runtime (bundle, tokens, evidence),
 * requests through the gateway with curl and undici.
 */
import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startHttpGateway } from '../../runtime/gateway/http-listener.ts';
import { curl, startHarness, type Harness } from './harness.ts';
import { startUpstream, type Upstream } from './upstream.ts';

let up: Upstream;
let h: Harness;
let token: string;
let base: string;

const SECRETS = ['ada@example.com', 'bob@example.com', 'ada.home@example.org', '4111 1111 1111 1111', '123-45-6789', 'deep@example.com'];

function targets(port: number, keyFile: string, downPort: number): string {
  return `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:${port}/base
  auth: { bearer: { env: TEST_API_TOKEN } }
  timeout: 1s
  maxBodyBytes: 16384
  classification:
    - name: pii
      fields: ["$..email", "$.items[*].ssn", "$..card_number"]
      content: [ssn]
      strategy: redact
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: docs }
spec:
  type: http
  url: http://127.0.0.1:${port}/base/
  auth: { basic: { username: docs-gw, password: { env: TEST_DOCS_PASSWORD } } }
  passUnmaskedContentTypes: [text/plain]
  classification:
    - name: pii
      fields: ["$..email"]
      content: [email, ssn, card]
      strategy: partial
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: plain }
spec:
  type: http
  url: http://127.0.0.1:${port}/base
  auth: { header: { name: X-Api-Key, value: { file: ${keyFile} } } }
  timeout: 1s
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: down }
spec:
  type: http
  url: http://127.0.0.1:${downPort}
`;
}

const POLICY = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: api-access }
spec:
  subjects: [{ group: support }]
  targets: [api, docs, plain, down]
  rules:
    - id: read
      effect: allow
      actions: [GET, HEAD, POST]
      resources: ["/**"]
    - id: refunds-need-finance
      effect: review
      actions: [POST]
      resources: ["/refunds"]
      review: { approvers: { groups: [finance] } }
    - id: no-admin
      effect: deny
      actions: [GET, POST]
      resources: ["/admin/**"]
`;

beforeAll(async () => {
  up = await startUpstream();
  const keyFile = join(process.cwd(), 'node_modules', '.portcullis-test-key');
  await writeFile(keyFile, 'key-from-file\n');
  const closed = await startUpstream();
  await closed.close();
  h = await startHarness({ 'targets/api.yaml': targets(up.port, keyFile, closed.port), 'policies/api.yaml': POLICY }, { TEST_API_TOKEN: 'upstream-secret-token', TEST_DOCS_PASSWORD: 'docs-pw' });
  token = await h.token('support-agent');
  base = h.gateway.url;
});

afterAll(async () => {
  await h?.close();
  await up?.close();
});

const auth = () => ['-H', `Authorization: Bearer ${token}`];

describe('authentication and refusals', () => {
  it('refuses a request without a token with 401 and WWW-Authenticate', async () => {
    const r = await curl([`${base}/api/users`]);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
    expect(r.headers['content-type']).toBe('application/problem+json');
    const p = JSON.parse(r.body);
    expect(p).toMatchObject({ status: 401, type: 'https://portcullis.dev/problems/unauthenticated', title: 'Unauthorized' });
    expect(up.seen.some((s) => s.url === '/base/users')).toBe(false);
  });

  it('refuses a forged token with 401 invalid_token', async () => {
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const r = await curl(['-H', `Authorization: Bearer ${forged}`, `${base}/api/users`]);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(JSON.parse(r.body).detail).toMatch(/signature/);
  });

  it('answers 404 for an unknown target, only after authentication', async () => {
    expect((await curl([`${base}/nope/x`])).status).toBe(401);
    const r = await curl([...auth(), `${base}/nope/x`]);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).code).toBe('not_found');
  });

  it('denies with a 403 problem naming the rule and the policy revision', async () => {
    const r = await curl([...auth(), `${base}/api/admin/users`]);
    expect(r.status).toBe(403);
    const p = JSON.parse(r.body);
    expect(p.type).toBe('https://portcullis.dev/problems/permission-denied');
    expect(p.rules).toEqual(['api-access/no-admin']);
    expect(p.detail).toContain('api-access/no-admin');
    expect(p.detail).toMatch(/policy (commit|digest) [0-9a-f]{12}/);
    expect(p.revision.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('denies by default what no rule allows (DELETE)', async () => {
    const r = await curl([...auth(), '-X', 'DELETE', `${base}/api/users`]);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).detail).toMatch(/no rule allows DELETE/);
  });

  it('refuses a review with 403 and the id of the approval request it opened', async () => {
    const r = await curl([...auth(), '-X', 'POST', '--data', '{}', `${base}/api/refunds`]);
    expect(r.status).toBe(403);
    const p = JSON.parse(r.body);
    expect(p.code).toBe('review_required');
    expect(p.rules).toEqual(['api-access/refunds-need-finance']);
    expect(p.approval).toMatchObject({ id: expect.any(String), status: 'pending', approverGroups: ['finance'], count: 1 });
    expect(p.detail).toContain(`waiting for approval ${p.approval.id}`);
  });

  it('refuses paths with encoded slashes and resolves dot segments before deciding', async () => {
    expect((await curl([...auth(), `${base}/api/x%2Fadmin`])).status).toBe(400);
    // /api/public/../admin/users is /admin/users to policy and upstream alike
    const r = await curl([...auth(), '--path-as-is', `${base}/api/public/../admin/users`]);
    expect(r.status).toBe(403);
  });

  it('fails closed with 503 when there is no bundle', async () => {
    const gw = await startHttpGateway({ ...h.runtime.ctx, bundle: () => undefined }, { port: 0 });
    try {
      const r = await curl([...auth(), `${gw.url}/api/users`]);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body).detail).toMatch(/no valid policy bundle/);
    } finally {
      await gw.close();
    }
  });
});

describe('forwarding', () => {
  it('swaps the agent credential for the target one, rewrites Host, drops hop-by-hop headers', async () => {
    const r = await curl([...auth(), '-H', 'Connection: x-private', '-H', 'X-Private: 1', '-H', 'X-Api-Key: agent-spoof', '-H', 'Keep-Alive: 5', `${base}/plain/echo?b=2&a=1`]);
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body);
    expect(echo.url).toBe('/base/echo?b=2&a=1');
    expect(echo.headers['x-api-key']).toBe('key-from-file');
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(echo.headers['x-private']).toBeUndefined();
    expect(echo.headers['keep-alive']).toBeUndefined();
    expect(JSON.stringify(echo)).not.toContain(token);
  });

  it('injects bearer and basic credentials', async () => {
    await curl([...auth(), `${base}/api/echo`]);
    expect(up.seen.at(-1)!.headers.authorization).toBe('Bearer upstream-secret-token');
    await curl([...auth(), `${base}/docs/echo`]);
    expect(up.seen.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('docs-gw:docs-pw').toString('base64')}`);
  });

  it('streams a request body to the upstream (undici, chunked)', async () => {
    async function* body() {
      for (let i = 0; i < 5; i++) yield Buffer.from(`part${i};`);
    }
    const r = await request(`${base}/plain/echo`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: Readable.from(body()) });
    expect(r.statusCode).toBe(200);
    const echo = (await r.body.json()) as { body: string; method: string };
    expect(echo).toMatchObject({ method: 'POST', body: 'part0;part1;part2;part3;part4;' });
  });

  it('refuses a request body over the target limit with 413', async () => {
    const r = await curl([...auth(), '-X', 'POST', '--data-binary', 'x'.repeat(20_000), `${base}/api/echo`]);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).limit).toBe(16384);
  });

  it('returns redirects instead of following them, with Location pointing into the gateway', async () => {
    const before = up.seen.length;
    const r = await curl([...auth(), `${base}/api/redirect`]);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/api/users');
    expect(r.body).toBe('');
    expect(up.seen.length).toBe(before + 1);
  });

  it('answers 504 when the upstream is slower than the target timeout', async () => {
    const t0 = Date.now();
    const r = await curl([...auth(), `${base}/plain/slow`]);
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(2800);
  });

  it('answers 502 when the upstream is down, without the cause', async () => {
    const r = await curl([...auth(), `${base}/down/x`]);
    expect(r.status).toBe(502);
    const p = JSON.parse(r.body);
    expect(p.detail).toBe('target down could not be reached');
    expect(r.body).not.toMatch(/ECONNREFUSED|stack/);
  });
});

describe('masking JSON responses', () => {
  const clean = (body: string) => {
    for (const s of SECRETS) expect(body).not.toContain(s);
  };

  it('masks fields by path, recursively and in nested arrays, plus content detectors', async () => {
    const r = await curl([...auth(), `${base}/api/users`]);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    clean(r.body);
    expect(body.users[0]).toMatchObject({ id: 1, name: 'Ada', email: '***', card_number: '***', address: { email: '***' } });
    expect(body.users[1].note).not.toContain('123-45-6789');
    expect(body.items[0].ssn).toBe('***');
    expect(body.items[0].tags[0][1].email).toBe('***');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(Number(r.headers['x-portcullis-masked'])).toBeGreaterThanOrEqual(7);
    expect(r.headers.etag).toBeUndefined();
    expect(r.headers['x-secret-hop']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=77');
  });

  it('leaves no unmasked duplicate key behind', async () => {
    const r = await curl([...auth(), `${base}/api/duplicate`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('first@example.com');
    expect(r.body).not.toContain('second@example.com');
    expect(JSON.parse(r.body)).toEqual({ email: '***', name: 'd' });
  });

  it('keeps every number it does not mask exactly as the upstream wrote it', async () => {
    const r = await curl([...auth(), `${base}/api/numbers`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('n@example.com');
    for (const kept of ['"id":12345678901234567890', '"amount":1.10', '"huge":1e400', '"neg":-0', '"exp":1E2', '[9007199254740993,', '"v":2.50', '"s":"12345678901234567890"', '"plain":42']) {
      expect(r.body).toContain(kept);
    }
    expect(JSON.parse(r.body).email).toBe('***');
  });

  it('masks a number too large for a double without a digit of it left', async () => {
    const r = await curl([...auth(), `${base}/api/numbers-masked`]);
    expect(r.body).not.toMatch(/9876543210/);
    expect(JSON.parse(r.body)).toEqual({ card_number: '***', name: 'm' });
  });

  it('honours no number marker an upstream writes itself', async () => {
    const r = await curl([...auth(), `${base}/api/numbers-forged`]);
    const body = JSON.parse(r.body);
    expect(body.card_number).toBe('***');
    // the upstream's own string stays a string: it is not turned into the masked number
    expect(body.note).toBe('\u000098765432109876543210');
  });

  it('still scrubs a string that starts with U+0000, whatever it looks like', async () => {
    const r = await curl([...auth(), `${base}/api/numbers-nul`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('123-45-6789');
    expect(JSON.parse(r.body).note).toMatch(/^\u0000 ssn /);
  });

  it('masks unicode-escaped keys', async () => {
    const r = await curl([...auth(), `${base}/api/escaped`]);
    expect(r.body).not.toContain('escaped@example.com');
    expect(JSON.parse(r.body)).toEqual({ email: '***', name: 'e' });
  });

  it('masks a member named __proto__ instead of losing or leaking it', async () => {
    const r = await curl([...auth(), `${base}/api/proto`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('proto@example.com');
    expect(r.body).not.toContain('p@example.com');
  });

  it.each(['gzip', 'br', 'deflate'])('decodes %s bodies, masks them and sends identity', async (enc) => {
    const r = await curl([...auth(), '-H', 'Accept-Encoding: gzip, br, deflate', `${base}/api/${enc}`]);
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeUndefined();
    clean(r.body);
    expect(JSON.parse(r.body).users[0].email).toBe('***');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(up.seen.at(-1)!.headers['accept-encoding']).toBe('gzip, deflate, br');
  });

  it('refuses an encoding it cannot decode', async () => {
    const r = await curl([...auth(), `${base}/api/zstd`]);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).detail).toMatch(/zstd/);
  });

  it('masks a chunked stream and sends it with a Content-Length', async () => {
    const r = await curl([...auth(), `${base}/api/chunked`]);
    expect(r.status).toBe(200);
    clean(r.body);
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
  });

  it('refuses malformed JSON and non-JSON bodies of a masked target (502)', async () => {
    for (const path of ['bad-json', 'html', 'lie', 'text']) {
      const r = await curl([...auth(), `${base}/api/${path}`]);
      expect(r.status, path).toBe(502);
      expect(r.headers['content-type']).toBe('application/problem+json');
      clean(r.body);
      expect(r.body).not.toContain('x@example.com');
    }
  });

  it('masks JSON behind a lying content type even when the type may pass', async () => {
    const r = await curl([...auth(), `${base}/docs/lie`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).users[0].email).toBe('a***@example.com');
    clean(r.body);
    const lines = await curl([...auth(), `${base}/docs/lie-lines`]);
    expect(lines.status).toBe(200);
    clean(lines.body);
    expect(lines.body.split('\n').map((l) => JSON.parse(l).email)).toEqual(['a***@example.com', 'b***@example.com']);
    const pretty = await curl([...auth(), `${base}/docs/pretty-lie`]);
    expect(pretty.status).toBe(502);
    clean(pretty.body);
  });

  it('passes a listed text type through the content detectors', async () => {
    const r = await curl([...auth(), `${base}/docs/text`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('123-45-6789');
    expect(r.body).not.toContain('ops@example.com');
    expect(r.body).toMatch(/^hello, call /);
  });

  it('refuses a response over the masking limit', async () => {
    const r = await curl([...auth(), `${base}/api/big`]);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).detail).toMatch(/larger than 16384/);
  });

  it('sends HEAD without a stale length', async () => {
    const r = await curl([...auth(), '-I', `${base}/api/users`]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBeUndefined();
  });
});

describe('evidence', () => {
  it('records each request: session start, a durable decision, the result with masked counts', async () => {
    const r = await curl([...auth(), `${base}/api/invoices/7`]);
    expect(r.status).toBe(200);
    const records = await h.evidence(['session.start', 'decision', 'result']);
    const decision = records.filter((x) => x.type === 'decision').find((x) => x.data.request.path === '/invoices/7');
    expect(decision).toBeDefined();
    expect(decision!.data.request).toMatchObject({ protocol: 'http', method: 'GET', target: 'api', subject: { identity: 'support-agent' } });
    expect(decision!.data.decision.effect).toBe('allow');
    const start = records.find((x) => x.type === 'session.start' && x.data.sessionId === decision!.data.sessionId);
    expect(start!.data).toMatchObject({ protocol: 'http', identity: 'support-agent', tokenSubject: 'support-agent' });
    const result = records.find((x) => x.type === 'result' && x.data.sessionId === decision!.data.sessionId && x.data.seq === decision!.data.seq);
    expect(result!.data).toMatchObject({ status: 'ok', maskedValues: 1 });
    const denied = records.filter((x) => x.type === 'decision').find((x) => x.data.request.path === '/admin/users');
    expect(denied!.data.decision.rules[0].rule).toBe('no-admin');
  });
});

describe('staged recording of safe requests', () => {
  type Staged = ReturnType<Harness['runtime']['ctx']['recorder']['recordDecisionStaged']>;
  /** Wraps the recorder so the test decides when a staged record becomes durable (or fails to). */
  function gateDurability(): { calls: () => number; release: () => void; fail: (e: Error) => void; restore: () => void } {
    const recorder = h.runtime.ctx.recorder;
    const original = recorder.recordDecisionStaged;
    let release!: () => void;
    let fail!: (e: Error) => void;
    const gate = new Promise<void>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    gate.catch(() => undefined);
    let calls = 0;
    recorder.recordDecisionStaged = (d): Staged => {
      calls++;
      const staged = original.call(recorder, d);
      const durable = staged.durable.then(() => gate);
      durable.catch(() => undefined);
      return { written: staged.written, durable };
    };
    return { calls: () => calls, release, fail, restore: () => (recorder.recordDecisionStaged = original) };
  }

  it('forwards a GET once its record is written, and holds the answer until the record is durable', async () => {
    const g = gateDurability();
    try {
      const before = up.seen.length;
      let answered = false;
      const pending = request(`${base}/api/invoices/7?staged=1`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
        answered = true;
        return { status: r.statusCode, body: await r.body.text() };
      });
      // the upstream has the request while the agent has nothing yet
      for (let i = 0; i < 100 && !up.seen.slice(before).some((s) => s.url === '/base/invoices/7?staged=1'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(up.seen.slice(before).some((s) => s.url === '/base/invoices/7?staged=1')).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(answered).toBe(false);
      expect(g.calls()).toBe(1);
      g.release();
      const r = await pending;
      expect(r.status).toBe(200);
      expect(r.body).not.toContain('billing@example.com');
      const decision = (await h.evidence(['decision'])).find((x) => x.data.request.path === '/invoices/7' && x.data.request.query?.staged);
      expect(decision).toBeDefined();
    } finally {
      g.restore();
    }
  });

  it('answers 503 and closes the connection when the record cannot be made durable; no byte of the answer leaves', async () => {
    const g = gateDurability();
    try {
      const pending = curl([...auth(), `${base}/api/users?fail=1`]);
      await new Promise((r) => setTimeout(r, 200));
      g.fail(new Error('disk gone'));
      const r = await pending;
      expect(r.status).toBe(503);
      expect(r.headers['connection']).toBe('close');
      for (const s of SECRETS) expect(r.body).not.toContain(s);
      expect(r.body).not.toContain('"users"');
      expect(JSON.parse(r.body)).toMatchObject({ status: 503 });
    } finally {
      g.restore();
    }
  });

  it('holds an upstream failure too until the record is durable', async () => {
    const g = gateDurability();
    try {
      let answered = false;
      const pending = curl([...auth(), `${base}/down/anything`]).then((r) => ((answered = true), r));
      await new Promise((r) => setTimeout(r, 200));
      expect(answered).toBe(false);
      g.release();
      expect((await pending).status).toBe(502);
    } finally {
      g.restore();
    }
  });

  it('waits for durability before forwarding anything that is not a bodiless GET or HEAD', async () => {
    const g = gateDurability();
    try {
      const r = await curl([...auth(), '-X', 'POST', '-H', 'content-type: application/json', '--data', '{"a":1}', `${base}/api/echo`]);
      expect(r.status).toBe(200);
      const withBody = await curl([...auth(), '-X', 'GET', '-H', 'content-type: application/json', '--data', '{"a":1}', `${base}/api/echo`]);
      expect(withBody.status).toBe(200);
      expect(g.calls()).toBe(0);
    } finally {
      g.restore();
    }
  });
});
