/**
 * The MCP gateway's edges: the SSE parser, result masking rules that refuse rather than guess, and
 * protocol paths the SDK client rarely takes (batches, unknown methods, server notifications,
 * tools the server does not list).
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Mask } from '../../runtime/engine/decision.ts';
import { mcpMasker } from '../../runtime/protocols/mcp/masking.ts';
import { formatSse, parseSse, type SseEvent } from '../../runtime/protocols/mcp/sse.ts';
import { startHarness, type Harness } from '../http/harness.ts';
import { CUSTOMER, startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

async function events(chunks: string[], limit = 1 << 20): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of parseSse(Readable.from(chunks.map((c) => Buffer.from(c))), limit, 't')) out.push(e);
  return out;
}

describe('SSE parsing', () => {
  it('reads events split anywhere, with CR, LF or CRLF, comments and multi-line data', async () => {
    const text = '\uFEFF: hello\r\nid: 1\r\nevent: message\r\ndata: {"a":\r\ndata: 1}\r\n\r\nid: 2\rdata: x\r\rretry: 50\n\n';
    const split = text.split('').map((c) => c);
    expect(await events(split)).toEqual([
      { id: '1', event: 'message', data: '{"a":\n1}' },
      { id: '2', data: 'x' },
      { data: '', retry: 50 },
    ]);
  });

  it('refuses an event larger than the limit', async () => {
    await expect(events([`data: ${'x'.repeat(100)}\n\n`], 50)).rejects.toThrow(/larger than 50 bytes/);
  });

  it('writes what it reads', async () => {
    const e = { id: '7', data: '{"jsonrpc":"2.0"}' };
    expect(await events([formatSse(e)])).toEqual([{ ...e, event: 'message' }]);
  });
});

describe('MCP result masking', () => {
  const masks: Mask[] = [
    { kind: 'field', pattern: '$..email', strategy: 'partial', source: 'classification:pii' },
    { kind: 'field', pattern: '$..ssn', strategy: 'redact', source: 'classification:pii' },
    { kind: 'content', pattern: 'email', strategy: 'partial', source: 'classification:pii' },
  ];
  const masker = mcpMasker(masks, Buffer.alloc(32, 1), 'tools');

  it('masks JSON text blocks, structured content, embedded resources and text blobs', () => {
    const doc = JSON.stringify({ customer: { email: 'ada@example.com', ssn: '123-45-6789' } });
    const { value, count } = masker.result('tools/call', {
      content: [
        { type: 'text', text: doc },
        { type: 'resource', resource: { uri: 'x://1', mimeType: 'application/json', blob: Buffer.from(doc).toString('base64') } },
        { type: 'text', text: `line one\n${doc}\nwrite to bob@example.org` },
      ],
      structuredContent: JSON.parse(doc),
      _meta: { contact: 'ops@example.com' },
    });
    const out = JSON.stringify(value);
    expect(out).not.toMatch(/ada@example\.com|123-45-6789|bob@example\.org|ops@example\.com/);
    const blob = (value as { content: { resource: { blob: string } }[] }).content[1]!.resource.blob;
    expect(JSON.parse(Buffer.from(blob, 'base64').toString('utf8')).customer.ssn).toBe('***');
    expect(count).toBe(10);
  });

  it('keeps the numbers of a JSON text block it does not mask exactly as the tool wrote them', () => {
    const doc = '{"id":12345678901234567890,"price":1.10,"email":"ada@example.com","ssn":98765432109876543210}';
    const { value } = masker.result('tools/call', { content: [{ type: 'text', text: doc }] });
    const text = (value as { content: { text: string }[] }).content[0]!.text;
    expect(text).toContain('"id":12345678901234567890');
    expect(text).toContain('"price":1.10');
    expect(text).not.toMatch(/ada@example\.com|9876543210/);
    expect(JSON.parse(text).ssn).toBe('***');
  });

  it('scrubs a member named __proto__ instead of losing or leaking it', () => {
    const result = JSON.parse('{"content":[],"__proto__":{"note":"ada@example.com"}}') as unknown;
    const { value } = masker.result('tools/call', result);
    expect(Object.getOwnPropertyNames(value)).toContain('__proto__');
    expect(JSON.stringify(value)).not.toContain('ada@example.com');
  });

  it('refuses text that names a masked field outside a JSON document', () => {
    expect(() => masker.result('tools/call', { content: [{ type: 'text', text: 'Note:\n  "ssn": "078-05-1120",\nend' }] })).toThrow(/masked field name \("ssn"\)/);
  });

  it('refuses binary content it cannot read', () => {
    expect(() => masker.result('tools/call', { content: [{ type: 'image', data: 'AAAA', mimeType: 'image/png' }] })).toThrow(/image content block/);
    expect(() => masker.result('resources/read', { contents: [{ uri: 'x://1', mimeType: 'application/pdf', blob: 'AAAA' }] })).toThrow(/binary/);
  });

  it('masks error messages and data', () => {
    const { value } = masker.value({ code: -1, message: 'no order for ada@example.com', data: { email: 'ada@example.com' } });
    expect(value).toEqual({ code: -1, message: 'no order for [email]', data: { email: 'a***@example.com' } });
  });
});

const UPSTREAM = 'upstream-secret-edge';

describe('MCP gateway protocol edges', () => {
  let server: TestMcpServer;
  let h: Harness;
  let token: string;
  let endpoint: string;
  let client: Client;
  let transport: StreamableHTTPClientTransport;
  const logs: unknown[] = [];

  beforeAll(async () => {
    server = await startMcpServer({ json: false, token: UPSTREAM });
    h = await startHarness(
      {
        'targets/tools.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${server.url}
  auth: { bearer: { env: TEST_MCP_EDGE_TOKEN } }
  classification:
    - name: pii
      fields: ["$..email", "$..ssn"]
      content: [email, ssn]
      strategy: partial
`,
        'policies/tools.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: edge }
spec:
  subjects: [{ group: support }]
  targets: [tools]
  rules:
    - id: tools
      effect: allow
      actions: [tools/list, tools/call]
      resources: ["*"]
    - id: refunds-need-finance
      effect: review
      actions: [tools/call]
      resources: [delete_customer]
      review: { approvers: { groups: [finance] } }
`,
      },
      { TEST_MCP_EDGE_TOKEN: UPSTREAM },
    );
    token = await h.token('support-agent');
    endpoint = `${h.gateway.url}/tools`;
    client = new Client({ name: 'edge', version: '1' });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    transport = new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await h?.close();
    await server?.close();
  });

  const post = (body: unknown) =>
    fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': transport.protocolVersion ?? '2025-06-18',
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const messagesOf = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l.length > 6)
      .flatMap((l) => {
        const v = JSON.parse(l.slice(6));
        return Array.isArray(v) ? v : [v];
      });

  it('masks the notifications a server sends while it works on a call', async () => {
    await client.callTool({ name: 'notify_customer', arguments: { order_id: 3 } });
    expect(JSON.stringify(logs)).not.toContain(CUSTOMER.email);
    expect(logs).toEqual([{ level: 'info', data: { note: 'emailed [email]', email: 'a***@example.com' } }]);
  });

  it('withholds results it cannot mask, with an error saying so', async () => {
    await expect(client.callTool({ name: 'screenshot', arguments: { order_id: 3 } })).rejects.toThrow(/image content block cannot be read.*withheld/);
    await expect(client.callTool({ name: 'customer_note', arguments: { customer_id: 7 } })).rejects.toThrow(/masked field name/);
  });

  it('holds review decisions for an approval, naming the request and the approvers', async () => {
    await expect(client.callTool({ name: 'delete_customer', arguments: { customer_id: 7 } })).rejects.toThrow(
      /waiting for approval ap-[0-9a-f]+: needs 1 of finance \(rule edge\/refunds-need-finance\)/,
    );
  });

  it('refuses a call to a tool the server does not list', async () => {
    await expect(client.callTool({ name: 'hidden_tool', arguments: {} })).rejects.toThrow(/tool "hidden_tool" is not among the tools target tools lists/);
  });

  it('refuses protocol methods no rule can name', async () => {
    const res = await post({ jsonrpc: '2.0', id: 'x1', method: 'experimental/dump', params: {} });
    const [m] = messagesOf(await res.text());
    expect(m).toMatchObject({ id: 'x1', error: { code: -32010 } });
    expect(m.error.message).toMatch(/no rule allows experimental\/dump/);
  });

  it('decides each request of a batch on its own', async () => {
    const res = await post([
      { jsonrpc: '2.0', id: 'b1', method: 'tools/call', params: { name: 'search_docs', arguments: { query: 'x' } } },
      { jsonrpc: '2.0', id: 'b2', method: 'tools/call', params: { name: 'delete_customer', arguments: { customer_id: 1 } } },
    ]);
    const byId = Object.fromEntries(messagesOf(await res.text()).map((m) => [m.id, m]));
    expect(byId.b1.result.content[0].text).toMatch(/articles match/);
    expect(byId.b2.error.code).toBe(-32011);
  });

  it('answers malformed bodies with JSON-RPC errors', async () => {
    const bad = await post('{not json');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const wrong = await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } });
    expect(messagesOf(await wrong.text())[0].error.code).toBe(-32602);
  });
});
