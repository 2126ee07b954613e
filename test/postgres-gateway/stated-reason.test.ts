/**
 * Agents say why, through the wire with psql: `SET portcullis.reason` for the session or a leading
 * `/* reason: ... *\/` comment for one statement. Approvers see the reason (approval request,
 * evidence), the client's application_name is no reason, and a rule with `review.requireReason`
 * refuses at once, asking no approver, until the agent gives one. Also the wording when nobody
 * approved in time: the statement was not run, and what to do next.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, psql, type GatewayFixture } from './fixture.ts';

const REASONER = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: reasoner }
spec: { kind: agent, match: { subject: reasoner }, groups: [reasoners] }
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: test-reasons }
spec:
  subjects: [{ group: reasoners }]
  targets: [shop-db]
  rules:
    - id: settings
      effect: allow
      actions: [session, transaction]
    - id: deletes-say-why
      effect: review
      actions: [delete]
      resources: [orders]
      review:
        approvers: { groups: [dba] }
        requireReason: true
`;

let gw: GatewayFixture;

beforeAll(async () => {
  gw = await startGatewayFixture({ files: { 'policies/reasons.yaml': REASONER } });
}, 60_000);
afterAll(async () => gw?.close());

async function approvalFor(sql: string) {
  const all = await gw.runtime.ctx.approvals!.list({});
  return all.find((a) => a.summary.includes(sql));
}

describe('stated reasons (psql)', () => {
  it('SET portcullis.reason reaches the approval request and the evidence; the refusal says nothing ran', async () => {
    const env = { ...(await gw.env('data-agent')), PGAPPNAME: 'psql-as-usual' };
    const r = await psql(env, ['-c', "SET portcullis.reason = 'ticket 42: duplicate order'", '-c', 'delete from orders where id = 9001']);
    expect(r.stderr).toMatch(/ERROR: {2}portcullis: the statement was not run: waiting for approval ap-[0-9a-f]+: needs 1 of dba \(rule data-maintenance\/deletes-need-dba\)/);
    expect(r.stderr).toMatch(/HINT: {2}approval ap-[0-9a-f]+ stays open until .*send the same request again/);
    const a = await approvalFor('id = 9001');
    expect(a?.reason).toBe('ticket 42: duplicate order');
    const requested = (await gw.evidence(['approval.requested'])).find((e) => e.data.id === a!.id);
    expect(requested?.data.reason).toBe('ticket 42: duplicate order');
  });

  it('a leading comment states the reason of one statement; application_name is no reason', async () => {
    const env = { ...(await gw.env('data-agent')), PGAPPNAME: 'psql-as-usual' };
    await psql(env, ['-c', '/* reason: clean up test orders */ delete from orders where id = 9002']);
    expect((await approvalFor('id = 9002'))?.reason).toBe('clean up test orders');
    await psql(env, ['-c', 'delete from orders where id = 9003']);
    const plain = await approvalFor('id = 9003');
    expect(plain).toBeDefined();
    expect(plain?.reason).toBeUndefined();
  });

  it('RESET portcullis.reason clears it', async () => {
    const env = await gw.env('data-agent');
    await psql(env, ['-c', "SET portcullis.reason = 'first'", '-c', 'RESET portcullis.reason', '-c', 'delete from orders where id = 9004']);
    expect((await approvalFor('id = 9004'))?.reason).toBeUndefined();
  });

  it('review.requireReason refuses at once without a reason and asks approvers with one', async () => {
    const env = await gw.env('reasoner');
    const bare = await psql(env, ['-c', 'delete from orders where id = 9005']);
    expect(bare.stderr).toContain('ERROR:  portcullis: rule test-reasons/deletes-say-why needs a stated reason before it asks approvers; nothing was run and no approval was requested');
    expect(bare.stderr).toContain('HINT:  say why first: SET portcullis.reason = ');
    expect(await approvalFor('id = 9005')).toBeUndefined();
    const said = await psql(env, ['-c', "SET portcullis.reason = 'ticket 7'", '-c', 'delete from orders where id = 9005']);
    expect(said.stderr).toContain('waiting for approval');
    expect((await approvalFor('id = 9005'))?.reason).toBe('ticket 7');
  });
});
