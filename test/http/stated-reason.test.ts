/**
 * Agents say why over HTTP (a `Portcullis-Reason` header, with curl) and MCP (`_meta` of the call,
 * with the MCP SDK): the approval request and its evidence record carry it, a rule with
 * `review.requireReason` refuses at once without one, and the refusal says nothing was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMcp } from '../mcp/client.ts';
import { curl, startHarness, type Harness } from './harness.ts';
import { startUpstream, type Upstream } from './upstream.ts';
import { startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

const UPSTREAM = 'reason-test-upstream-token';
let up: Upstream;
let mcp: TestMcpServer;
let h: Harness;
let token: string;

beforeAll(async () => {
  up = await startUpstream();
  mcp = await startMcpServer({ json: false, token: UPSTREAM });
  h = await startHarness(
    {
      'targets/t.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:${up.port}/base
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${mcp.url}
  auth: { bearer: { env: TEST_MCP_REASON_TOKEN } }
`,
      'policies/p.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: reasons }
spec:
  subjects: [{ group: support }]
  targets: [api, tools]
  rules:
    - id: refunds
      effect: review
      actions: [POST]
      resources: ["/refunds"]
      review: { approvers: { groups: [finance] } }
    - id: exports-say-why
      effect: review
      actions: [POST]
      resources: ["/exports"]
      review: { approvers: { groups: [finance] }, requireReason: true }
    - id: tools
      effect: allow
      actions: [tools/list]
    - id: deletes
      effect: review
      actions: [tools/call]
      resources: [delete_customer]
      review: { approvers: { groups: [finance] } }
`,
    },
    { TEST_MCP_REASON_TOKEN: UPSTREAM },
  );
  token = await h.token('support-agent');
});

afterAll(async () => {
  await h?.close();
  await up?.close();
  await mcp?.close();
});

const auth = () => ['-H', `Authorization: Bearer ${token}`];

async function approvalFor(summary: string) {
  return (await h.runtime.ctx.approvals!.list({})).find((a) => a.summary.includes(summary));
}

describe('stated reasons over HTTP and MCP', () => {
  it('a Portcullis-Reason header reaches the approval and the evidence; the refusal says nothing was sent', async () => {
    const r = await curl([...auth(), '-H', 'Portcullis-Reason: ticket 12: double charge', '-A', 'curl/as-usual', '-X', 'POST', '--data', '{}', `${h.gateway.url}/api/refunds`]);
    expect(r.status).toBe(403);
    const p = JSON.parse(r.body);
    expect(p.detail).toContain('the request was not sent');
    const a = await approvalFor('/refunds');
    expect(a?.reason).toBe('ticket 12: double charge');
    const rec = (await h.evidence(['approval.requested'])).find((e) => e.data.id === a!.id);
    expect(rec?.data.reason).toBe('ticket 12: double charge');
  });

  it('requireReason refuses at once without the header, and asks with it', async () => {
    const bare = await curl([...auth(), '-X', 'POST', '--data', '{}', `${h.gateway.url}/api/exports`]);
    expect(bare.status).toBe(403);
    const p = JSON.parse(bare.body);
    expect(p.detail).toContain('rule reasons/exports-say-why needs a stated reason');
    expect(p.hint).toContain('Portcullis-Reason');
    expect(await approvalFor('/exports')).toBeUndefined();
    const said = await curl([...auth(), '-H', 'Portcullis-Reason: audit export', '-X', 'POST', '--data', '{}', `${h.gateway.url}/api/exports`]);
    expect(JSON.parse(said.body).code).toBe('review_required');
    expect((await approvalFor('/exports'))?.reason).toBe('audit export');
  });

  it('MCP: _meta["portcullis.dev/reason"] of a tool call reaches the approval', async () => {
    const { client } = await connectMcp(`${h.gateway.url}/tools`, token, { name: 'reasons' });
    try {
      await expect(client.callTool({ name: 'delete_customer', arguments: { customer_id: 7 }, _meta: { 'portcullis.dev/reason': 'GDPR erasure request 55' } })).rejects.toThrow(
        /the call was not made: waiting for approval/,
      );
      expect((await approvalFor('delete_customer'))?.reason).toBe('GDPR erasure request 55');
    } finally {
      await client.close();
    }
  });
});
