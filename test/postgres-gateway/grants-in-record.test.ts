/**
 * A statement a review let through names, in its decision record, the one-shot approval or the
 * just-in-time grant that covered it and who approved it with what note; `portcullis sessions show`
 * (and the console, from the same timeline) reads "review → allowed by ...".
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import pg from 'pg';
import { createScratchDatabase } from '../harness/postgres.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { portcullis } from '../evidence-cli/cli.ts';
import type { AuthenticatedSubject } from '../../runtime/gateway/context.ts';

const GRANT_POLICY = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-grants }
spec:
  subjects: [{ group: testers }]
  targets: [scratch-db]
  rules:
    - id: product-updates-granted
      effect: review
      actions: [update]
      resources: [products]
      review: { approvers: { groups: [dba], count: 1 }, grant: { ttl: 10m } }
`;

let gw: GatewayFixture;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

const alice: AuthenticatedSubject = { identity: 'alice', groups: ['dba'], kind: 'human', tokenSubject: 'alice', issuer: 'test', expiresAt: new Date(Date.now() + 3_600_000) };

beforeAll(async () => {
  scratch = await createScratchDatabase('gwgrant');
  gw = await startGatewayFixture({ scratch: scratch.name, files: { 'policies/grants.yaml': GRANT_POLICY } });
});
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

async function approvePending(summary: string, note: string): Promise<string> {
  const pending = (await gw.runtime.approvals.list({ status: 'pending' })).find((r) => r.summary === summary);
  expect(pending, `a pending approval for ${summary}`).toBeDefined();
  await gw.runtime.approvals.approve(pending!.id, alice, note);
  return pending!.id;
}

async function lastDecision(text: string): Promise<any> {
  return (await gw.evidence(['decision'])).filter((r) => r.data.request?.statement?.text === text).at(-1)?.data;
}

test('one-shot approval and grant are named in the record and in sessions show', async () => {
  const c = new pg.Client(await gw.conn('tester', 'scratch-db'));
  c.on('error', () => {});
  await c.connect();
  try {
    const once = 'delete from products where id = -1';
    expect(
      await c.query(once).then(
        () => 'ran',
        (e: Error) => e.message,
      ),
    ).toMatch(/approval/);
    const approvalId = await approvePending(once, 'ticket 7');
    await c.query(once);
    const d1 = await lastDecision(once);
    expect(d1.decision).toMatchObject({ effect: 'review', approval: { via: 'allowed-once', approvalId, approvers: [{ identity: 'alice', note: 'ticket 7' }] } });

    const granted = 'update products set name = name where id = -1';
    expect(
      await c.query(granted).then(
        () => 'ran',
        (e: Error) => e.message,
      ),
    ).toMatch(/approval/);
    const grantApproval = await approvePending(granted, 'migration window');
    await c.query(granted);
    const again = 'update products set name = name where id = -2';
    await c.query(again);
    const d2 = await lastDecision(again);
    expect(d2.decision).toMatchObject({
      effect: 'review',
      approval: { via: 'grant', approvalId: grantApproval, grantId: expect.any(String), approvers: [{ identity: 'alice', note: 'migration window' }] },
    });

    const show = await portcullis(['sessions', 'show', d2.sessionId, '--data-dir', gw.dataDir]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`review → allowed by approval ${approvalId} (one use) (approved by alice: ticket 7)`);
    expect(show.stdout).toContain(`review → allowed by grant ${d2.decision.approval.grantId} of approval ${grantApproval} (approved by alice: migration window)`);

    const report = await portcullis(['evidence', 'report', '--data-dir', gw.dataDir, '--format', 'json']);
    expect(report.code, report.stderr).toBe(0);
    const outcomes = (JSON.parse(report.stdout) as { commits: { reviewsAllowed: { shown: { outcome: string }[] } }[] }).commits.flatMap((c) => c.reviewsAllowed.shown.map((x) => x.outcome));
    expect(outcomes).toContain(`review → allowed by approval ${approvalId} (one use) (approved by alice: ticket 7)`);
    expect(outcomes).toContain(`review → allowed by grant ${d2.decision.approval.grantId} of approval ${grantApproval} (approved by alice: migration window)`);
  } finally {
    await c.end();
  }
});
