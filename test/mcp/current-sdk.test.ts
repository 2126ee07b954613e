/**
 * The MCP gateway with today's clients and servers: the SDK client with its default (latest)
 * protocol version against an SDK server that keeps an event store, so every SSE stream opens with a
 * priming event (an id and empty data). Also: masked structured results stay valid against the
 * tool's outputSchema, and resources a tool hands back are decided as resources/read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { startHarness, type Harness } from '../http/harness.ts';
import { CUSTOMER, startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';
import { samplesOf } from '../metrics/prometheus.ts';

const UPSTREAM_TOKEN = 'upstream-secret-current-sdk';

const TARGET = (url: string) => `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${url}
  auth: { bearer: { env: TEST_MCP_CURRENT_TOKEN } }
  timeout: 5s
  classification:
    - name: pii
      fields: ["$..email", "$..ssn"]
      content: [email, ssn]
      strategy: partial
`;

const POLICY = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: current }
spec:
  subjects: [{ group: support }]
  targets: [tools]
  rules:
    - id: discover
      effect: allow
      actions: [tools/list, resources/list]
    - id: lookups
      effect: allow
      actions: [tools/call]
      resources: [lookup_order, search_docs, customer_card]
      mask: [{ fields: ["$..customer.id"], strategy: redact }]
    - id: help-docs
      effect: allow
      actions: [resources/read]
      resources: ["docs://*"]
`;

let server: TestMcpServer;
let h: Harness;
let token: string;
let endpoint: string;

async function connect(): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  // the SDK's defaults: no protocol version chosen by the test
  const client = new Client({ name: 'current-sdk', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

beforeAll(async () => {
  server = await startMcpServer({ json: false, token: UPSTREAM_TOKEN, eventStore: true });
  h = await startHarness({ 'targets/tools.yaml': TARGET(server.url), 'policies/tools.yaml': POLICY }, { TEST_MCP_CURRENT_TOKEN: UPSTREAM_TOKEN });
  token = await h.token('support-agent');
  endpoint = `${h.gateway.url}/tools`;
});

afterAll(async () => {
  await h?.close();
  await server?.close();
});

describe('the SDK client with its default protocol, against a server with an event store', () => {
  it('negotiates the latest protocol and calls a tool the gateway checks first (priming events are not messages)', async () => {
    const { client, transport } = await connect();
    try {
      expect(transport.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
      // no tools/list before the call: the gateway lists the tools itself, over an SSE stream that opens with a priming event
      const result = await client.callTool({ name: 'search_docs', arguments: { query: 'refund' } });
      expect((result.content as { text: string }[])[0]!.text).toBe('3 articles match "refund": refunds, shipping, returns.');
    } finally {
      await client.close();
    }
  });

  it('passes the priming event on to the agent, so the SDK client can resume the stream', async () => {
    const { client, transport } = await connect();
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'raw', method: 'tools/list' }),
      });
      const text = await res.text();
      const events = text.split('\n\n').filter((e) => e.trim() !== '');
      expect(events[0]).toMatch(/^id: \S+\n/);
      expect(events[0]).toMatch(/\ndata: \n?$/);
      expect(events.some((e) => e.includes('"id":"raw"'))).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('masked structured content', () => {
  it('stays valid against the tool outputSchema the agent listed (the SDK client checks it)', async () => {
    const { client } = await connect();
    try {
      const { tools } = await client.listTools();
      const lookup = tools.find((t) => t.name === 'lookup_order')!;
      // the gateway states the widening in the schema it lists
      expect(JSON.stringify(lookup.outputSchema)).toContain('masked by portcullis');
      const result = await client.callTool({ name: 'lookup_order', arguments: { order_id: 1042 } });
      const structured = result.structuredContent as { order_id: number; customer: { id: unknown; email: string; ssn: string } };
      expect(structured.order_id).toBe(1042);
      expect(structured.customer.id).toBe('***');
      expect(structured.customer.email).not.toBe(CUSTOMER.email);
      expect(JSON.stringify(result)).not.toContain(CUSTOMER.ssn);
    } finally {
      await client.close();
    }
  });
});

describe('resources a tool returns', () => {
  it('are decided as resources/read: a denied embedded resource or link is withheld, an allowed one passes', async () => {
    const { client } = await connect();
    try {
      await client.listTools();
      const result = await client.callTool({ name: 'customer_card', arguments: { order_id: 1042 } });
      const all = JSON.stringify(result);
      expect(all).not.toContain('customers://7');
      expect(all).not.toContain(CUSTOMER.name);
      const blocks = result.content as { type: string; text?: string; resource?: { uri: string; text: string } }[];
      expect(blocks).toHaveLength(3);
      expect(blocks[0]).toMatchObject({ type: 'text' });
      expect(blocks[0]!.text).toMatch(/withheld: no rule allows resources\/read on this resource/);
      expect(blocks[1]).toMatchObject({ type: 'text' });
      expect(blocks[2]).toMatchObject({ type: 'resource', resource: { uri: 'docs://refund-policy', text: 'Refunds within 30 days.' } });
    } finally {
      await client.close();
    }
  });
});

describe('metrics', () => {
  it('count MCP decisions and masked values', async () => {
    const samples = samplesOf(await h.runtime.metrics.render());
    expect(samples.find((s) => s.name === 'portcullis_decisions_total' && s.labels.protocol === 'mcp' && s.labels.effect === 'allow' && s.labels.target === 'tools')?.value).toBeGreaterThan(0);
    expect(samples.find((s) => s.name === 'portcullis_masked_values_total' && s.labels.target === 'tools')?.value).toBeGreaterThan(0);
  });
});
