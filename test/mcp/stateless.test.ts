/**
 * A server in the SDK's stateless mode (no session ids): the gateway keeps one recorded session per
 * agent connection, checks tool definitions without a session, and still filters, decides and masks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectMcp } from './client.ts';
import { startHarness, type Harness } from '../http/harness.ts';
import { CUSTOMER, startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

const TOKEN = 'upstream-secret-stateless';

describe('MCP gateway, stateless server', () => {
  let server: TestMcpServer;
  let h: Harness;
  let client: Client;

  beforeAll(async () => {
    server = await startMcpServer({ json: true, token: TOKEN, stateless: true, header: 'x-api-key' });
    h = await startHarness(
      {
        'targets/tools.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${server.url}
  auth: { header: { name: X-Api-Key, value: { env: TEST_MCP_STATELESS_KEY } } }
  classification:
    - { name: pii, fields: ["$..email"], content: [email, ssn], strategy: redact }
`,
        'policies/tools.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: stateless }
spec:
  subjects: [{ group: support }]
  targets: [tools]
  rules:
    - { id: list, effect: allow, actions: [tools/list] }
    - { id: lookups, effect: allow, actions: [tools/call], resources: [lookup_order] }
`,
      },
      { TEST_MCP_STATELESS_KEY: TOKEN },
    );
    ({ client } = await connectMcp(`${h.gateway.url}/tools`, await h.token('support-agent'), { name: 'stateless-bot' }));
  });

  afterAll(async () => {
    await client?.close();
    await h?.close();
    await server?.close();
  });

  it('filters, decides and masks without session ids', async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['lookup_order']);
    const result = await client.callTool({ name: 'lookup_order', arguments: { order_id: 5 } });
    const text = JSON.stringify(result);
    expect(text).not.toContain(CUSTOMER.email);
    expect(text).not.toContain(CUSTOMER.ssn);
    await expect(client.callTool({ name: 'search_docs', arguments: { query: 'x' } })).rejects.toThrow(/no rule allows tools\/call on search_docs/);
  });

  it('sends the credential as the header the target names, and no Authorization at all', () => {
    expect(server.authorizations.length).toBeGreaterThan(0);
    expect(new Set(server.authorizations)).toEqual(new Set(['']));
  });

  it('records a session per agent connection, as for HTTP', async () => {
    const starts = (await h.evidence(['session.start'])).filter((r) => r.data.protocol === 'mcp');
    expect(starts.length).toBeGreaterThan(0);
    for (const s of starts) {
      expect(s.data).toMatchObject({ identity: 'support-agent', target: 'tools' });
      expect(s.data.attributes['mcp-session-id']).toBeUndefined();
    }
    const decisions = await h.evidence(['decision']);
    expect(decisions.length).toBe(3);
    expect(new Set(decisions.map((d) => d.data.sessionId)).size).toBeLessThanOrEqual(starts.length);
  });
});
