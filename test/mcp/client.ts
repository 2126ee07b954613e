/**
 * The MCP client the tests drive the gateway with: the SDK's Client over Streamable HTTP, carrying
 * the agent's bearer token, as an agent connects to `${gateway}/<target>`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface McpConnection {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

/** `before` runs on the client before it connects (notification handlers). */
export async function connectMcp(url: string, token: string, info: { name: string; version?: string } = { name: 'test-agent' }, before?: (client: Client) => void): Promise<McpConnection> {
  const client = new Client({ name: info.name, version: info.version ?? '1' });
  before?.(client);
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}
