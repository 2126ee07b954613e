/**
 * One meaning of "audit before action" across protocols (runtime/exchange): a request that needs
 * review and is approved leaves the same evidence over HTTP, the Kubernetes API and MCP. The asking
 * request is recorded once, as an unapproved `review` with its refusal as the result; the approved
 * retry is recorded once, after its review settled, as `review` naming the approval and its approver,
 * with an ok result. (Before the exchange core, HTTP, Kubernetes and MCP recorded the review before
 * settling it, so the record of an approved request did not say what let it through.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMcp } from '../mcp/client.ts';
import { curl, startHarness, type Harness } from './harness.ts';
import { startJsonServer, type JsonServer } from './json-server.ts';
import { startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';
import { startApiServer, type ApiServer } from '../../runtime/embedded/demo/kubernetes.ts';

const MCP_TOKEN = 'approved-review-mcp-token';
let up: JsonServer;
let api: ApiServer;
let mcp: TestMcpServer;
let h: Harness;
let token: string;

beforeAll(async () => {
  up = await startJsonServer({ refunds: [] });
  api = await startApiServer();
  mcp = await startMcpServer({ json: true, token: MCP_TOKEN });
  h = await startHarness(
    {
      'targets/t.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: ${up.url}
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: k8s }
spec:
  type: kubernetes
  url: ${api.url}
  auth: { bearer: { env: TEST_APPROVED_K8S_TOKEN } }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${mcp.url}
  auth: { bearer: { env: TEST_APPROVED_MCP_TOKEN } }
`,
      'policies/p.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: reviewed }
spec:
  subjects: [{ group: support }]
  targets: [api, k8s, tools]
  rules:
    - id: list-tools
      effect: allow
      actions: [tools/list]
    - id: refunds
      effect: review
      actions: [POST]
      resources: ["/refunds"]
      review: { approvers: { groups: [finance] } }
    - id: pod
      effect: review
      actions: [get]
      resources: [pods]
      review: { approvers: { groups: [finance] } }
    - id: deletes
      effect: review
      actions: [tools/call]
      resources: [delete_customer]
      review: { approvers: { groups: [finance] } }
`,
    },
    { TEST_APPROVED_K8S_TOKEN: 'cluster-token', TEST_APPROVED_MCP_TOKEN: MCP_TOKEN },
  );
  token = await h.token('support-agent');
});

afterAll(async () => {
  await h?.close();
  await up?.close();
  await api?.close();
  await mcp?.close();
});

const alice = () => ({ identity: 'alice', groups: ['finance'], kind: 'human' as const, tokenSubject: 'alice', issuer: 'test', expiresAt: new Date(Date.now() + 60_000) });

async function pendingFor(summary: string): Promise<string> {
  const a = (await h.runtime.approvals.list({ status: 'pending' })).find((x) => x.summary.includes(summary));
  expect(a, `a pending approval mentioning ${summary}`).toBeDefined();
  return a!.id;
}

/** The decision records of the given protocol's requests matching `which`, with their results. */
async function recorded(protocol: string, which: (request: any) => boolean) {
  const records = await h.evidence(['decision', 'result']);
  const decisions = records.filter((r) => r.type === 'decision' && r.data.request.protocol === protocol && which(r.data.request));
  return decisions.map((d) => ({
    decision: d.data.decision,
    result: records.find((r) => r.type === 'result' && r.data.sessionId === d.data.sessionId && r.data.seq === d.data.seq)?.data,
  }));
}

/** The shape every protocol must leave: one unapproved review refused, then one approved review let through. */
function expectApprovedShape(entries: Awaited<ReturnType<typeof recorded>>, approvalId: string): void {
  expect(entries).toHaveLength(2);
  const [asked, approved] = entries;
  expect(asked!.decision.effect).toBe('review');
  expect(asked!.decision.approval).toBeUndefined();
  expect(asked!.result).toMatchObject({ status: 'error', error: { code: 'review_required' } });
  expect(approved!.decision.effect).toBe('review');
  expect(approved!.decision.approval).toMatchObject({ approvalId, approvers: [{ identity: 'alice' }] });
  expect(['grant', 'allowed-once']).toContain(approved!.decision.approval.via);
  expect(approved!.result).toMatchObject({ status: 'ok' });
}

describe('an approved review leaves the same evidence on every protocol', () => {
  it('HTTP', async () => {
    const args = ['-H', `Authorization: Bearer ${token}`, '-H', 'content-type: application/json', '--data', '{"amount":3}', `${h.gateway.url}/api/refunds`];
    expect((await curl(args)).status).toBe(403);
    const id = await pendingFor('"amount":3');
    await h.runtime.approvals.approve(id, alice());
    expect((await curl(args)).status).toBe(201);
    expect(up.db().refunds).toEqual([{ amount: 3, id: 1 }]);
    expectApprovedShape(await recorded('http', (r) => r.path === '/refunds'), id);
  });

  it('Kubernetes', async () => {
    const args = ['-H', `Authorization: Bearer ${token}`, `${h.gateway.url}/k8s/api/v1/namespaces/shop/pods/web-1`];
    expect((await curl(args)).status).toBe(403);
    const id = await pendingFor('web-1');
    await h.runtime.approvals.approve(id, alice());
    const r = await curl(args);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).metadata.name).toBe('web-1');
    expectApprovedShape(await recorded('kubernetes', (q) => q.resource === 'pods' && q.name === 'web-1'), id);
  });

  it('MCP', async () => {
    const { client } = await connectMcp(`${h.gateway.url}/tools`, token, { name: 'approved' });
    try {
      await client.listTools();
      await expect(client.callTool({ name: 'delete_customer', arguments: { customer_id: 9 } })).rejects.toThrow(/waiting for approval/);
      const id = await pendingFor('delete_customer');
      await h.runtime.approvals.approve(id, alice());
      const done = await client.callTool({ name: 'delete_customer', arguments: { customer_id: 9 } });
      expect(done.content).toEqual([{ type: 'text', text: 'deleted' }]);
      expectApprovedShape(await recorded('mcp', (q) => q.method === 'tools/call' && q.name === 'delete_customer'), id);
    } finally {
      await client.close();
    }
  });
});
