/**
 * An MCP session whose client left reads closed: the SDK client's close() (no DELETE) drops its GET
 * stream, and the gateway ends the recorded session as `client-left` instead of leaving it open until
 * the idle timeout; a client that ends the session (DELETE) gets `client-closed`; a client that keeps
 * its stream open keeps its session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startHarness, type Harness } from '../http/harness.ts';
import { startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

const UPSTREAM = 'client-left-upstream-token';
let server: TestMcpServer;
let h: Harness;
let token: string;

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
  auth: { bearer: { env: TEST_MCP_LEFT_TOKEN } }
`,
      'policies/tools.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: left }
spec:
  subjects: [{ group: support }]
  targets: [tools]
  rules:
    - { id: list, effect: allow, actions: [tools/list] }
`,
    },
    { TEST_MCP_LEFT_TOKEN: UPSTREAM },
  );
  token = await h.token('support-agent');
});

afterAll(async () => {
  await h?.close();
  await server?.close();
});

async function connect(): Promise<{ client: Client; transport: StreamableHTTPClientTransport; sessionId: string }> {
  const client = new Client({ name: 'leaver', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.gateway.url}/tools`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  await client.listTools();
  const starts = await h.evidence(['session.start']);
  const mine = starts.filter((r) => r.data.attributes?.['mcp-session-id'] === transport.sessionId || r.data.protocol === 'mcp');
  return { client, transport, sessionId: mine[mine.length - 1]!.data.sessionId };
}

async function endOf(sessionId: string, timeoutMs = 60_000): Promise<string | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const end = (await h.evidence(['session.end'])).find((r) => r.data.sessionId === sessionId);
    if (end) return end.data.reason;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

describe('MCP sessions end when the client leaves', () => {
  it('close() without DELETE: the session ends as client-left', async () => {
    const { client, sessionId } = await connect();
    await client.close();
    expect(await endOf(sessionId)).toBe('client-left');
  });

  it('terminateSession(): the session ends as client-closed', async () => {
    const { client, transport, sessionId } = await connect();
    await transport.terminateSession();
    await client.close();
    expect(await endOf(sessionId)).toBe('client-closed');
  });

  it('a client that stays connected keeps its session', async () => {
    const { client, sessionId } = await connect();
    // longer than the grace time: the open GET stream says the client is there
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await endOf(sessionId, 1)).toBeUndefined();
    await client.listTools();
    await client.close();
    expect(await endOf(sessionId)).toBe('client-left');
  });
});
