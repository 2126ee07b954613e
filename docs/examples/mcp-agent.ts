/**
 * An agent talking to an MCP server through Portcullis, with the MCP SDK's own client:
 *
 *   NODE_EXTRA_CA_CERTS=.portcullis/tls/ca.crt PORTCULLIS_TOKEN=$(npx portcullis token issue --subject support-agent) \
 *     npx tsx docs/examples/mcp-agent.ts https://127.0.0.1:8443/tools-mcp
 *
 * It lists the tools it may see, calls an allowed one (the result arrives masked) and a denied one.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.argv[2] ?? 'https://127.0.0.1:8443/tools-mcp';
const token = process.env.PORTCULLIS_TOKEN;
if (!token) {
  process.stderr.write('set PORTCULLIS_TOKEN to an agent token: npx portcullis token issue --subject support-agent\n');
  process.exit(2);
}
const client = new Client({ name: 'support-bot', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
await client.connect(transport);

const tools = await client.listTools();
console.log('tools I may call:', tools.tools.map((t) => t.name).join(', '));

const order = await client.callTool({ name: 'lookup_order', arguments: { order_id: 1042 } });
console.log('lookup_order:', JSON.stringify(order.structuredContent ?? order.content));

try {
  await client.callTool({ name: 'run_sql', arguments: { sql: 'DELETE FROM customers' } });
} catch (error) {
  console.log('run_sql:', (error as Error).message);
}
// End the session at the gateway (an HTTP DELETE) rather than only closing the connection: the
// session is then recorded as closed by the client at once.
await transport.terminateSession();
await client.close();
