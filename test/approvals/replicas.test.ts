/**
 * Two gateway replicas on one PostgreSQL state database share approvals and grants: a request held
 * on one is freed by an approval on the other, a one-shot approval runs once across both, a grant
 * opened through one covers the other and lapses on time on both, and the approver rules still hold.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayRuntime, type GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import { gateReview } from '../../runtime/approvals/gate.ts';
import { PostgresApprovalService } from '../../runtime/approvals/postgres-service.ts';
import type { ReviewInput } from '../../runtime/approvals/types.ts';
import type { ReviewRequirement } from '../../runtime/engine/decision.ts';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { readPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { createScratchDatabase, pgInfo } from '../harness/postgres.ts';

let dir: string;
let db: { name: string; drop: () => Promise<void> };
let url: string;
let a: GatewayRuntime;
let b: GatewayRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-approval-replicas-'));
  // The example policy with a 2 s grant, so "expires on time" is seen within the test.
  await cp('policies', join(dir, 'policies'), { recursive: true });
  const data = join(dir, 'policies/policies/data.yaml');
  const text = await readFile(data, 'utf8');
  expect(text).toContain('grant: { ttl: 30m }');
  await writeFile(data, text.replace('grant: { ttl: 30m }', 'grant: { ttl: 2s }'));
  db = await createScratchDatabase('approvals');
  const info = pgInfo();
  url = `postgresql://${info.user}:${encodeURIComponent(info.password)}@${info.host}:${info.port}/${db.name}`;
  const start = (name: string) => startGatewayRuntime({ policies: join(dir, 'policies'), watch: false, dataDir: join(dir, name), state: { postgres: url, replica: name }, log: () => {} });
  [a, b] = [await start('gw-a'), await start('gw-b')];
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ONE_SHOT = { grantTtlMs: undefined, grantScope: undefined };

/** What the gateway hands `gateReview` for `sql` by data-agent on shop-db, decided by the replica's live bundle. */
function ask(rt: GatewayRuntime, sql: string, opts: { sessionId?: string; review?: Partial<ReviewRequirement> } = {}): ReviewInput {
  const bundle = rt.ctx.bundle();
  if (!bundle) throw new Error('no bundle');
  const [request] = buildRequests(bundle, { as: 'data-agent', target: 'shop-db', sql }) as [Request];
  const decision = decide(bundle, request);
  if (decision.effect !== 'review' || !decision.review) throw new Error(`expected review, got ${decision.effect}`);
  const review: ReviewRequirement = { ...decision.review, ...opts.review };
  for (const [k, v] of Object.entries(opts.review ?? {})) if (v === undefined) delete (review as unknown as Record<string, unknown>)[k];
  return { subject: request.subject, sessionId: opts.sessionId ?? 'sess-a1', target: 'shop-db', request, decision: { ...decision, review } };
}

/** A signed-in identity on `rt`, through its own token verifier (each replica has its dev issuer). */
async function signIn(rt: GatewayRuntime, subject: string) {
  const { token } = await issueToken({ dataDir: rt.dataDir, subject, ttl: '10m' });
  return rt.ctx.authenticate(token);
}

async function refusal(p: Promise<unknown>): Promise<PortcullisError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PortcullisError.is(error), `expected a PortcullisError, got ${String(error)}`).toBe(true);
  return error as PortcullisError;
}

async function pendingOn(rt: GatewayRuntime, summary: string) {
  let id: string | undefined;
  await expect.poll(async () => (id = (await rt.approvals.list({ status: 'pending' })).find((r) => r.summary === summary)?.id), { timeout: 5000, interval: 20 }).toBeDefined();
  return id as string;
}

describe('two replicas on one PostgreSQL state database', () => {
  it('use the PostgreSQL approval store', () => {
    expect(a.approvals).toBeInstanceOf(PostgresApprovalService);
    expect(b.approvals).toBeInstanceOf(PostgresApprovalService);
  });

  it('a request held on replica A completes when a human approves it on replica B', async () => {
    const sql = 'DELETE FROM orders WHERE id = 101';
    const held = gateReview(a.approvals, ask(a, sql, { review: ONE_SHOT }), { holdMs: 15_000, reason: 'ticket 1' });
    const id = await pendingOn(b, sql);
    const alice = await signIn(b, 'alice');
    expect(alice.kind).toBe('human');
    const approved = await b.approvals.approve(id, alice, 'looks right');
    const t0 = Date.now();
    const outcome = await held;
    // Woken by NOTIFY: the backstop re-read every 2 s, or the end of the hold, would be later.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(approved.status).toBe('approved');
    expect(outcome).toMatchObject({ allowed: true, via: 'allowed-once', approvalId: id });
    expect(await a.approvals.get(id)).toMatchObject({ status: 'approved', consumedAt: expect.any(String), approvals: [{ identity: 'alice', note: 'looks right' }] });
  });

  it('a one-shot approval consumed on one replica is not usable on the other, even when both try at once', async () => {
    const sql = 'DELETE FROM orders WHERE id = 102';
    const r = await a.approvals.request(ask(a, sql, { review: ONE_SHOT }));
    await b.approvals.approve(r.id, await signIn(b, 'alice'));
    const results = await Promise.all([a.approvals.check(ask(a, sql, { review: ONE_SHOT, sessionId: 'sess-a2' })), b.approvals.check(ask(b, sql, { review: ONE_SHOT, sessionId: 'sess-b2' }))]);
    expect(results.filter((x) => x === 'allowed-once')).toHaveLength(1);
    expect(results.filter((x) => x === undefined)).toHaveLength(1);
    for (const rt of [a, b]) expect(await rt.approvals.check(ask(rt, sql, { review: ONE_SHOT }))).toBeUndefined();
    const out = await gateReview(b.approvals, ask(b, sql, { review: ONE_SHOT }), { holdMs: 0 });
    expect(out.allowed).toBe(false);
    const consumed: unknown[] = [];
    for await (const rec of readPostgresEvidence(url, { types: ['approval.consumed'] })) if ((rec.data as { id: string }).id === r.id) consumed.push(rec);
    expect(consumed).toHaveLength(1);
  });

  it('the same request asked on both replicas at once is one approval request', async () => {
    const sql = 'DELETE FROM orders WHERE id = 109';
    const [viaA, viaB] = await Promise.all([
      a.approvals.request(ask(a, sql, { review: ONE_SHOT, sessionId: 'sess-a4' })),
      b.approvals.request(ask(b, `  ${sql} ;`, { review: ONE_SHOT, sessionId: 'sess-b4' })),
    ]);
    expect(viaB.id).toBe(viaA.id);
    expect((await b.approvals.list({ status: 'pending' })).filter((r) => r.summary === sql)).toHaveLength(1);
  });

  it('an approver counts once, even approving on both replicas at once', async () => {
    const sql = 'DELETE FROM orders WHERE id = 103';
    const r = await a.approvals.request(ask(a, sql, { review: { ...ONE_SHOT, count: 2 } }));
    const [viaA, viaB] = await Promise.allSettled([a.approvals.approve(r.id, await signIn(a, 'alice')), b.approvals.approve(r.id, await signIn(b, 'alice'))]);
    expect([viaA.status, viaB.status].sort()).toEqual(['fulfilled', 'rejected']);
    const failed = (viaA.status === 'rejected' ? viaA : viaB) as PromiseRejectedResult;
    expect(PortcullisError.is(failed.reason, 'failed_precondition')).toBe(true);
    expect(await b.approvals.get(r.id)).toMatchObject({ status: 'pending', approvals: [{ identity: 'alice' }] });
  });

  it('self-approval and agent approval are still refused, on either replica', async () => {
    const sql = 'DELETE FROM orders WHERE id = 104';
    const r = await a.approvals.request(ask(a, sql, { review: ONE_SHOT }));
    const agent = await signIn(b, 'data-agent');
    expect(agent.kind).toBe('agent');
    expect((await refusal(b.approvals.approve(r.id, agent))).code).toBe('permission_denied');
    // The requester itself, even if it held a human token in an approver group.
    const self = { ...(await signIn(b, 'alice')), identity: 'data-agent' };
    const e = await refusal(b.approvals.approve(r.id, self));
    expect(e.code).toBe('permission_denied');
    expect(e.message).toMatch(/asked for this request/);
    expect((await refusal(a.approvals.approve(r.id, await signIn(a, 'bob')))).message).toMatch(/not in an approver group/);
    expect((await a.approvals.get(r.id))?.status).toBe('pending');
  });

  it('a grant opened through one replica is honoured by the other and expires on time on both', async () => {
    const sql = 'DELETE FROM orders WHERE id = 105';
    const first = await gateReview(a.approvals, ask(a, sql), { holdMs: 0 });
    expect(first.allowed).toBe(false);
    const id = (first as { approval?: { id: string } }).approval?.id as string;
    const approved = await b.approvals.approve(id, await signIn(b, 'alice'));
    expect(approved.grantId).toBeDefined();
    // Scope rule: any delete of orders by data-agent, in any session, on either replica.
    expect(await gateReview(a.approvals, ask(a, 'DELETE FROM orders WHERE id = 106', { sessionId: 'sess-a3' }), { holdMs: 0 })).toMatchObject({ allowed: true, via: 'grant' });
    expect(await gateReview(b.approvals, ask(b, 'DELETE FROM orders WHERE id = 107', { sessionId: 'sess-b3' }), { holdMs: 0 })).toMatchObject({ allowed: true, via: 'grant' });
    const [grant] = (await a.approvals.grants({ live: true })).filter((g) => g.id === approved.grantId);
    expect(grant).toBeDefined();
    const expiresAt = Date.parse(grant!.expiresAt);
    expect(expiresAt - Date.parse(grant!.openedAt)).toBe(2000);

    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 20)));
    for (const rt of [a, b]) {
      expect(await rt.approvals.check(ask(rt, 'DELETE FROM orders WHERE id = 108'))).toBeUndefined();
      expect((await rt.approvals.grants({ live: true })).map((g) => g.id)).not.toContain(grant!.id);
    }
    // Both replicas sweep; the expiry is recorded once.
    await expect.poll(async () => (await b.approvals.grants()).find((g) => g.id === grant!.id)?.endReason, { timeout: 5000 }).toBe('expired');
    await new Promise((r) => setTimeout(r, 1500));
    const expired: unknown[] = [];
    for await (const rec of readPostgresEvidence(url, { types: ['grant.expired'] })) if ((rec.data as { id: string }).id === grant!.id) expired.push(rec);
    expect(expired).toHaveLength(1);
  });

  it('a session grant ends when its replica restarts (under the same name), and the other replica sees that', async () => {
    const sql = 'DELETE FROM orders WHERE id = 110';
    const session = { review: { grantTtlMs: 60_000, grantScope: 'session' as const }, sessionId: 'sess-a5' };
    const r = await a.approvals.request(ask(a, sql, session));
    const approved = await b.approvals.approve(r.id, await signIn(b, 'alice'));
    expect(await b.approvals.check(ask(b, sql, session))).toBe('grant');
    await a.close();
    a = await startGatewayRuntime({ policies: join(dir, 'policies'), watch: false, dataDir: join(dir, 'gw-a'), state: { postgres: url, replica: 'gw-a' }, log: () => {} });
    expect(await b.approvals.check(ask(b, sql, session))).toBeUndefined();
    expect((await b.approvals.grants()).find((g) => g.id === approved.grantId)).toMatchObject({ endReason: 'gateway-restart' });
  });
});
