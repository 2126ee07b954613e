/**
 * HTTP bypasses, tried through the gateway against json-server (Express 4 with Express's
 * method-override middleware): method override, query spellings and absence, path case, and
 * approvals that must bind the body. Each refusal is checked at the upstream too: the record
 * that a deny rule protects is still there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, startHarness, type Harness } from './harness.ts';
import { startJsonServer, type JsonServer } from './json-server.ts';
import { samplesOf } from '../metrics/prometheus.ts';
import { webhookMessage } from '../../runtime/approvals/webhook.ts';

let up: JsonServer;
let h: Harness;
let token: string;
let base: string;

const COMMENTS = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, body: `comment ${i + 1}`, email: `user${i + 1}@example.com` }));

const COMMIT = { id: 1, sha: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3', contact: 'ops@example.com', note: 'paid with 4111 1111 1111 1111' };

const TARGETS = (url: string) => `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: shop }
spec:
  type: http
  url: ${url}
  paths: { caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal }
  classification:
    - name: pii
      fields: ["$..email"]
      strategy: partial
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: shop-express }
spec:
  type: http
  url: ${url}
  paths: { caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: shop-servlet }
spec:
  type: http
  url: ${url}
  paths: { caseSensitive: true, trailingSlash: ignored, semicolonParameters: stripped }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: shop-cards }
spec:
  type: http
  url: ${url}
  paths: { caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal }
  classification:
    - name: payment
      content: [card]
      strategy: redact
`;

const POLICY = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: shop-support }
spec:
  subjects: [{ group: support }]
  targets: [shop]
  rules:
    - id: list-comments
      effect: allow
      actions: [GET]
      resources: ["/comments"]
      when: { query: { _limit: "^[1-9]$" } }
    - id: read-posts
      effect: allow
      actions: [GET]
      resources: ["/posts", "/comments/*"]
      when: { query: { q: { pattern: "^[a-z]+$", absent: pass } } }
    - id: write-comments
      effect: allow
      actions: [POST, PATCH]
      resources: ["/comments", "/comments/*"]
    - id: refunds-need-finance
      effect: review
      actions: [POST]
      resources: ["/refunds"]
      review: { approvers: { groups: [finance] } }
    - id: no-deletes
      effect: deny
      actions: [DELETE]
      resources: ["/**"]
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: browse }
spec:
  subjects: [{ group: support }]
  targets: [shop-express, shop-servlet, shop-cards]
  rules:
    - id: read-anything
      effect: allow
      actions: [GET]
      resources: ["/**"]
    - id: no-admin
      effect: deny
      actions: [GET]
      resources: ["/admin/**"]
`;

beforeAll(async () => {
  up = await startJsonServer({ comments: COMMENTS, posts: [{ id: 1, title: 'hello' }], admin: [{ id: 1, secret: 'root-password' }], users: [{ id: 1 }], refunds: [], commits: [COMMIT] });
  h = await startHarness({ 'targets/shop.yaml': TARGETS(up.url), 'policies/shop.yaml': POLICY });
  token = await h.token('support-agent');
  base = h.gateway.url;
});

afterAll(async () => {
  await h?.close();
  await up?.close();
});

const auth = () => ['-H', `Authorization: Bearer ${token}`];
const problem = (body: string) => JSON.parse(body) as { status: number; code: string; detail: string; rules?: string[]; approval?: { id: string; status: string } };

describe('method override', () => {
  it('decides X-HTTP-Method-Override as the method it asks for: a POST standing for DELETE meets the deny rule', async () => {
    const r = await curl([...auth(), '-X', 'POST', '-H', 'X-HTTP-Method-Override: DELETE', `${base}/shop/comments/1`]);
    expect(r.status).toBe(403);
    expect(problem(r.body).rules).toEqual(['shop-support/no-deletes']);
    expect(up.db().comments!.some((c) => c.id === 1)).toBe(true);
    const decisions = (await h.evidence(['decision'])).filter((d) => d.data.request.path === '/comments/1');
    expect(decisions.at(-1)!.data.request.method).toBe('DELETE');
  });

  it('decides ?_method= the same way, and refuses overrides that disagree', async () => {
    for (const spelling of ['_method=DELETE', '%5Fmethod=delete', '_method[]=DELETE']) {
      const q = await curl([...auth(), '-X', 'POST', '-g', `${base}/shop/comments/2?${spelling}`]);
      expect([spelling, q.status]).toEqual([spelling, 403]);
      expect(problem(q.body).rules).toEqual(['shop-support/no-deletes']);
    }
    const both = await curl([...auth(), '-X', 'POST', '-H', 'X-HTTP-Method-Override: PATCH', `${base}/shop/comments/2?_method=DELETE`]);
    expect(both.status).toBe(400);
    expect(problem(both.body).detail).toMatch(/method override, which is ambiguous/);
    expect(up.db().comments!.some((c) => c.id === 2)).toBe(true);
  });

  it('decides a _method in a form body too', async () => {
    const r = await curl([...auth(), '-X', 'POST', '--data', '_method=DELETE&x=1', `${base}/shop/comments/3`]);
    expect(r.status).toBe(403);
    expect(problem(r.body).rules).toEqual(['shop-support/no-deletes']);
  });

  it('sends an allowed override upstream as that method, without the override', async () => {
    const before = up.seen.length;
    const r = await curl([...auth(), '-X', 'POST', '-H', 'X-HTTP-Method-Override: PATCH', '-H', 'content-type: application/json', '--data', '{"body":"edited"}', `${base}/shop/comments/4`]);
    expect(r.status).toBe(200);
    expect(up.seen.slice(before).map((s) => s.method)).toEqual(['PATCH']);
    expect(up.db().comments!.find((c) => c.id === 4)!.body).toBe('edited');
  });
});

describe('query parameters', () => {
  it('reads name[] as name, as Express does: _limit[]=50 does not dodge a condition on _limit', async () => {
    const ok = await curl([...auth(), `${base}/shop/comments?_limit=5`]);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toHaveLength(5);
    for (const q of ['_limit[]=50', '_limit%5B%5D=50', '_limit[0]=50', '_limit[x]=50', '_limit=5&_limit=50', '_limit=5&_limit[]=50']) {
      const r = await curl([...auth(), '-g', `${base}/shop/comments?${q}`]);
      expect([q, r.status]).toEqual([q, 403]);
      expect(problem(r.body).detail).toMatch(/requires query parameter _limit/);
    }
  });

  it('fails a condition on an absent parameter, unless the condition says absent: pass', async () => {
    const r = await curl([...auth(), `${base}/shop/comments`]);
    expect(r.status).toBe(403);
    expect(problem(r.body).detail).toMatch(/requires query parameter _limit \(matching/);
    expect((await curl([...auth(), `${base}/shop/posts`])).status).toBe(200);
    expect((await curl([...auth(), `${base}/shop/posts?q=hello`])).status).toBe(200);
    expect((await curl([...auth(), '-g', `${base}/shop/posts?q[]=Hello`])).status).toBe(403);
  });

  it('refuses forms that frameworks read differently', async () => {
    for (const q of ['_limit]=5', '[_limit]=5', '_limit[[x]=5', '_limit=5;_limit=50']) {
      const r = await curl([...auth(), '-g', `${base}/shop/comments?${q}`]);
      expect([q, r.status]).toEqual([q, 400]);
      expect(problem(r.body).detail).toMatch(/is ambiguous/);
    }
  });
});

describe('path semantics', () => {
  it('matches regardless of case on a target that declares caseSensitive: false (Express routes /ADMIN as /admin)', async () => {
    for (const p of ['/admin', '/ADMIN', '/Admin/1', '/aDmIn/']) {
      const r = await curl([...auth(), `${base}/shop-express${p}`]);
      expect([p, r.status]).toEqual([p, 403]);
      expect(problem(r.body).rules).toEqual(['browse/no-admin']);
      expect(r.body).not.toContain('root-password');
    }
    expect((await curl([...auth(), `${base}/shop-express/users`])).status).toBe(200);
  });

  it('strips ;parameters before matching on a target that declares semicolonParameters: stripped', async () => {
    const r = await curl([...auth(), `${base}/shop-servlet/admin;jsessionid=1/1`]);
    expect(r.status).toBe(403);
    expect(problem(r.body).rules).toEqual(['browse/no-admin']);
  });
});

describe('content masks', () => {
  it('run only the detectors they list: content: [card] masks the card, not a git SHA or an email', async () => {
    const r = await curl([...auth(), `${base}/shop-cards/commits/1`]);
    expect(r.status).toBe(200);
    const commit = JSON.parse(r.body);
    expect(commit.note).toBe('paid with [card]');
    expect(commit.sha).toBe(COMMIT.sha);
    expect(commit.contact).toBe(COMMIT.contact);
  });
});

describe('review', () => {
  it('answers at once with the approval id and Retry-After, and the approval binds the body', async () => {
    const asked = await curl([...auth(), '-H', 'content-type: application/json', '--data', '{"amount":10,"email":"ada@example.com"}', `${base}/shop/refunds`]);
    expect(asked.status).toBe(403);
    expect(asked.headers['retry-after']).toBe('10');
    const p = problem(asked.body);
    expect(p.code).toBe('review_required');
    expect(p.approval).toMatchObject({ status: 'pending' });
    const id = p.approval!.id;
    expect(id).toMatch(/^ap-/);
    // approvers read the body, masked
    const approval = (await h.runtime.approvals.get(id))!;
    expect(approval.summary).toMatch(/^POST \/refunds\ncontent-type: application\/json\nbody \(39 bytes, sha256 [0-9a-f]{12}…\): \{"amount":10,"email":"a\*+@example\.com"\}$/);
    expect(JSON.stringify(approval)).not.toContain('ada@example.com');
    // the webhook (chat) message shows it too, on one line
    const message = webhookMessage({ kind: 'requested', request: approval });
    expect(message.text).toContain('POST /refunds ⏎ content-type: application/json ⏎ body (39 bytes');
    expect(message.text).toMatch(/"email":"a\*+@example\.com"/);
    expect(JSON.stringify(message)).not.toContain('ada@example.com');
    await h.runtime.approvals.approve(id, { identity: 'alice', groups: ['finance'], kind: 'human', tokenSubject: 'alice', issuer: 'test', expiresAt: new Date(Date.now() + 60_000) });
    // another body under the same approval: a new review, nothing reaches the upstream
    const other = await curl([...auth(), '-H', 'content-type: application/json', '--data', '{"amount":99999,"email":"ada@example.com"}', `${base}/shop/refunds`]);
    expect(other.status).toBe(403);
    expect(problem(other.body).approval!.id).not.toBe(id);
    // another meaning-changing header: also a new review
    const form = await curl([...auth(), '-H', 'content-type: text/plain', '--data', '{"amount":10,"email":"ada@example.com"}', `${base}/shop/refunds`]);
    expect(form.status).toBe(403);
    expect(up.db().refunds).toEqual([]);
    const same = await curl([...auth(), '-H', 'content-type: application/json', '--data', '{"amount":10,"email":"ada@example.com"}', `${base}/shop/refunds`]);
    expect(same.status).toBe(201);
    expect(up.db().refunds).toEqual([{ amount: 10, email: 'ada@example.com', id: 1 }]);
  });

  it('holds the request when the client asks with Prefer: wait=N, and lets it through once approved', async () => {
    const ctx = h.runtime.ctx as { reviewHoldMs?: number };
    ctx.reviewHoldMs = 60_000;
    try {
      const held = curl([...auth(), '-H', 'Prefer: wait=60', '-H', 'content-type: application/json', '--data', '{"amount":7}', `${base}/shop/refunds`]);
      let pending: { id: string } | undefined;
      await expect.poll(async () => (pending = (await h.runtime.approvals.list({ status: 'pending' })).find((a) => a.summary.includes('"amount":7'))), { timeout: 20_000 }).toBeDefined();
      await h.runtime.approvals.approve(pending!.id, { identity: 'alice', groups: ['finance'], kind: 'human', tokenSubject: 'alice', issuer: 'test', expiresAt: new Date(Date.now() + 60_000) });
      const r = await held;
      expect(r.status).toBe(201);
    } finally {
      ctx.reviewHoldMs = 0;
    }
  });
});

describe('metrics', () => {
  it('count HTTP decisions and masked values', async () => {
    const r = await curl([...auth(), `${base}/shop/comments?_limit=3`]);
    expect(r.body).not.toContain('user1@example.com');
    const s = samplesOf(await h.runtime.metrics.render());
    expect(s.find((x) => x.name === 'portcullis_decisions_total' && x.labels.protocol === 'http' && x.labels.target === 'shop' && x.labels.effect === 'deny')?.value).toBeGreaterThan(0);
    expect(s.find((x) => x.name === 'portcullis_decisions_total' && x.labels.protocol === 'http' && x.labels.target === 'shop' && x.labels.effect === 'allow')?.value).toBeGreaterThan(0);
    await expect
      .poll(() => h.runtime.metrics.render().then((t) => samplesOf(t).find((x) => x.name === 'portcullis_masked_values_total' && x.labels.target === 'shop')?.value ?? 0))
      .toBeGreaterThanOrEqual(3);
  });
});
