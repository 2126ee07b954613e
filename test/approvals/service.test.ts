import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { readEvidence } from '../../runtime/evidence/reader.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { gateReview } from '../../runtime/approvals/gate.ts';
import { alice, bob, carol, fixture, human, type Fixture } from './helpers.ts';

let f: Fixture;
afterEach(async () => {
  await f?.close();
});

const ONE_SHOT = { grantTtlMs: undefined, grantScope: undefined };
const DELETE_7 = 'DELETE FROM orders WHERE id = 7';

async function rejects(p: Promise<unknown>, code: string, text?: RegExp) {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PortcullisError.is(error), `expected a PortcullisError, got ${String(error)}`).toBe(true);
  expect((error as PortcullisError).code).toBe(code);
  if (text) expect((error as PortcullisError).message).toMatch(text);
}

async function recordTypes(dir: string): Promise<string[]> {
  const types: string[] = [];
  for await (const r of readEvidence(join(dir, 'evidence'))) if (r.type !== 'checkpoint') types.push(r.type);
  return types;
}

describe('approval requests', () => {
  it('creates a pending request carrying who, what, where, which rule and commit, and why', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7);
    const r = await f.service.request({ ...input, reason: 'ticket 4411: duplicate order' });
    expect(r).toMatchObject({
      status: 'pending',
      requester: { identity: 'data-agent', sessionId: 'sess-1' },
      target: 'shop-db',
      protocol: 'postgres',
      summary: DELETE_7,
      rule: { policy: 'data-maintenance', rule: 'deletes-need-dba' },
      approverGroups: ['dba'],
      count: 1,
      reason: 'ticket 4411: duplicate order',
    });
    expect(r.revision.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(r.requestHash).toMatch(/^[0-9a-f]{64}$/);
    expect(await f.service.pendingCount()).toBe(1);
  });

  it('is idempotent for the same identity, target and normalized request while pending', async () => {
    f = await fixture();
    const a = await f.service.request(await f.ask(DELETE_7));
    f.clock.now += 1000;
    const b = await f.service.request(await f.ask(`  ${DELETE_7} ;`, { sessionId: 'sess-2' }));
    const c = await f.service.request(await f.ask('DELETE FROM orders WHERE id = 8'));
    expect(b.id).toBe(a.id);
    expect(c.id).not.toBe(a.id);
    expect((await f.service.list()).length).toBe(2);
    expect((await recordTypes(f.dir)).filter((t) => t === 'approval.requested').length).toBe(2);
  });

  it('refuses a decision that is not a review', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7);
    await rejects(f.service.request({ ...input, decision: { ...input.decision, effect: 'allow' } }), 'invalid_argument');
  });
});

describe('who may approve', () => {
  it('never lets the requester approve its own request, nor an agent, nor someone outside the approver groups', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7);
    const r = await f.service.request(input);
    await rejects(f.service.approve(r.id, human('data-agent', ['dba'])), 'permission_denied', /asked for this request/);
    await rejects(f.service.approve(r.id, human('ops-agent', ['dba'], 'agent')), 'permission_denied', /not a human/);
    await rejects(f.service.approve(r.id, bob), 'permission_denied', /not in an approver group/);
    expect((await f.service.get(r.id))?.status).toBe('pending');
  });

  it('needs `count` distinct approvers', async () => {
    f = await fixture();
    const r = await f.service.request(await f.ask(DELETE_7, { review: { count: 2, ...ONE_SHOT } }));
    const once = await f.service.approve(r.id, alice, 'looks right');
    expect(once.status).toBe('pending');
    expect(await f.service.check(await f.ask(DELETE_7, { review: { count: 2, ...ONE_SHOT } }))).toBeUndefined();
    await rejects(f.service.approve(r.id, alice), 'failed_precondition', /already approved/);
    const twice = await f.service.approve(r.id, carol);
    expect(twice.status).toBe('approved');
    expect(twice.approvals.map((a) => a.identity)).toEqual(['alice', 'carol']);
  });

  it('cannot approve an expired request', async () => {
    f = await fixture({ requestTtlMs: 60_000 });
    const r = await f.service.request(await f.ask(DELETE_7));
    f.clock.now += 60_001;
    await rejects(f.service.approve(r.id, alice), 'failed_precondition', /expired/);
    await f.service.sweep();
    expect((await f.service.get(r.id))?.status).toBe('expired');
    expect(await recordTypes(f.dir)).toContain('approval.expired');
  });

  it('makes a denial final, with a reason', async () => {
    f = await fixture();
    const r = await f.service.request(await f.ask(DELETE_7));
    await rejects(f.service.deny(r.id, alice, '  '), 'invalid_argument');
    const denied = await f.service.deny(r.id, alice, 'not during the freeze');
    expect(denied).toMatchObject({ status: 'denied', denial: { identity: 'alice', reason: 'not during the freeze' } });
    await rejects(f.service.approve(r.id, carol), 'failed_precondition', /final/);
    await rejects(f.service.deny(r.id, carol, 'again'), 'failed_precondition', /final/);
    expect(await f.service.check(await f.ask(DELETE_7))).toBeUndefined();
    // A new ask after a denial is a new request, not the denied one.
    const again = await f.service.request(await f.ask(DELETE_7));
    expect(again.id).not.toBe(r.id);
  });
});

describe('one-shot approvals', () => {
  it('allow that one exact request once, bound to identity, target and the request hash', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7, { review: ONE_SHOT });
    const r = await f.service.request(input);
    expect(await f.service.check(input)).toBeUndefined();
    await f.service.approve(r.id, alice);
    // A different statement, another identity: not covered.
    expect(await f.service.check(await f.ask('DELETE FROM orders WHERE id = 7 OR true', { review: ONE_SHOT }))).toBeUndefined();
    expect(await f.service.check(await f.ask('DELETE FROM orders WHERE id = 8', { review: ONE_SHOT }))).toBeUndefined();
    const other = await f.ask(DELETE_7, { review: ONE_SHOT });
    expect(
      await f.service.check({ ...other, subject: { identity: 'support-agent', groups: ['data'] }, request: { ...other.request, subject: { identity: 'support-agent', groups: ['data'] } } }),
    ).toBeUndefined();
    expect(await f.service.check({ ...other, target: 'billing-api' })).toBeUndefined();
    // The same statement (from another session, text re-spaced at the ends): once.
    expect(await f.service.check(await f.ask(`${DELETE_7};`, { review: ONE_SHOT, sessionId: 'sess-9' }))).toBe('allowed-once');
    expect(await f.service.check(input)).toBeUndefined();
    expect((await f.service.get(r.id))?.consumedAt).toBeDefined();
    expect(await recordTypes(f.dir)).toEqual(['approval.requested', 'approval.approved', 'approval.consumed']);
  });

  it('lapses when not used in time', async () => {
    f = await fixture({ approvedUseTtlMs: 10_000 });
    const input = await f.ask(DELETE_7, { review: ONE_SHOT });
    const r = await f.service.request(input);
    await f.service.approve(r.id, alice);
    f.clock.now += 10_001;
    expect(await f.service.check(input)).toBeUndefined();
    await f.service.sweep();
    expect((await f.service.get(r.id))?.status).toBe('expired');
  });
});

describe('just-in-time grants', () => {
  it('open for the rule scope and expire on time', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7); // the example rule: grant ttl 30m, scope rule
    const r = await f.service.request(input);
    const approved = await f.service.approve(r.id, alice);
    expect(approved.grantId).toMatch(/^gr-/);
    // Any delete under the same rule, from any session of the same identity, is covered…
    expect(await f.service.check(await f.ask('DELETE FROM orders WHERE id = 99', { sessionId: 'sess-2' }))).toBe('grant');
    expect(await f.service.check(input)).toBe('grant');
    // …another identity is not.
    const otherSubject = { identity: 'support-agent', groups: ['data'] };
    expect(await f.service.check({ ...input, subject: otherSubject, request: { ...input.request, subject: otherSubject } })).toBeUndefined();
    f.clock.now += 30 * 60_000 - 1;
    expect(await f.service.check(input)).toBe('grant');
    f.clock.now += 1;
    expect(await f.service.check(input)).toBeUndefined();
    await f.service.sweep();
    const [grant] = await f.service.grants();
    expect(grant).toMatchObject({ identity: 'data-agent', target: 'shop-db', scope: 'rule', endReason: 'expired' });
    expect(await recordTypes(f.dir)).toEqual(['approval.requested', 'approval.approved', 'grant.opened', 'grant.expired']);
  });

  it('with scope session, cover only that session and end when it ends', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7, { review: { grantTtlMs: 60_000, grantScope: 'session' }, sessionId: 's-a' });
    const r = await f.service.request(input);
    await f.service.approve(r.id, alice);
    expect(await f.service.check(await f.ask('DELETE FROM orders WHERE id = 1', { review: { grantTtlMs: 60_000, grantScope: 'session' }, sessionId: 's-b' }))).toBeUndefined();
    expect(await f.service.check(input)).toBe('grant');
    await f.service.sessionEnded('s-other');
    expect(await f.service.check(input)).toBe('grant');
    await f.service.sessionEnded('s-a');
    expect(await f.service.check(input)).toBeUndefined();
    expect((await f.service.grants())[0]).toMatchObject({ endReason: 'session-ended' });
  });

  it('with scope session, do not survive a restart', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7, { review: { grantTtlMs: 60_000, grantScope: 'session' } });
    await f.service.approve((await f.service.request(input)).id, alice);
    const reopened = await f.reopen();
    expect(await reopened.check(input)).toBeUndefined();
    expect((await reopened.grants())[0]).toMatchObject({ endReason: 'gateway-restart' });
  });
});

describe('durability and waiting', () => {
  it('keeps state across a restart and writes every change to a valid evidence log', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7);
    const r = await f.service.request(input);
    await f.service.approve(r.id, alice);
    const reopened = await f.reopen();
    expect((await reopened.get(r.id))?.status).toBe('approved');
    expect(await reopened.check(input)).toBe('grant');
    const state = JSON.parse(await readFile(join(f.dir, 'approvals', 'state.json'), 'utf8'));
    expect(state.requests).toHaveLength(1);
    await f.evidence.checkpoint();
    const pub = await readFile(join(f.dir, 'evidence', 'checkpoint-key.pub.pem'), 'utf8');
    expect((await verifyEvidence(join(f.dir, 'evidence'), pub)).ok).toBe(true);
  });

  it('waitFor resolves when decided, or as pending when the hold runs out', async () => {
    f = await fixture();
    const r = await f.service.request(await f.ask(DELETE_7));
    const t0 = Date.now();
    expect((await f.service.waitFor(r.id, 50)).status).toBe('pending');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const waiting = f.service.waitFor(r.id, 10_000);
    setTimeout(() => void f.service.approve(r.id, alice), 30);
    expect((await waiting).status).toBe('approved');
  });

  it('gateReview holds a request until an approver decides, then lets it through once', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7, { review: ONE_SHOT });
    const first = await gateReview(f.service, input, { holdMs: 0, reason: 'cleanup' });
    expect(first.allowed).toBe(false);
    if (first.allowed) return;
    expect(first.error.code).toBe('review_required');
    const id = first.approval!.id;
    expect(first.error.details.approval).toMatchObject({ id });
    const held = gateReview(f.service, input, { holdMs: 10_000 });
    setTimeout(() => void f.service.approve(id, alice), 30);
    expect(await held).toEqual({
      allowed: true,
      via: 'allowed-once',
      approvalId: id,
      coverage: { via: 'allowed-once', approvalId: id, approvers: [expect.objectContaining({ identity: expect.any(String) })] },
    });
    const after = await gateReview(f.service, input, { holdMs: 0 });
    expect(after.allowed).toBe(false);
  });

  it('gateReview reports a denial as permission_denied and fails closed when the store breaks', async () => {
    f = await fixture();
    const input = await f.ask(DELETE_7);
    const first = await gateReview(f.service, input, { holdMs: 0 });
    if (first.allowed) throw new Error('unexpected');
    await f.service.deny(first.approval!.id, alice, 'no');
    const held = await gateReview(f.service, input, { holdMs: 0 });
    expect(held.allowed).toBe(false); // a new request, pending
    const broken = { ...f.service, check: () => Promise.reject(new Error('disk gone')) } as unknown as typeof f.service;
    const out = await gateReview(broken, input, { holdMs: 0 });
    expect(out.allowed === false && out.error.code).toBe('failed_precondition');
  });
});
