/**
 * The README's MCP lines: docs/examples/mcp-agent.ts (the SDK client with its defaults) against the
 * example repo's tools-mcp target and policy, with the demo tool server as `npm start` runs it (an
 * event store, so every stream opens with a priming event).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startHarness, type Harness } from '../http/harness.ts';
import { startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

const UPSTREAM = 'readme-example-upstream';
let server: TestMcpServer;
let h: Harness;

beforeAll(async () => {
  server = await startMcpServer({ json: false, token: UPSTREAM, eventStore: true });
  const target = (await readFile('policies/targets/tools-mcp.yaml', 'utf8')).replace('http://127.0.0.1:54332', server.url).replace('TOOLS_MCP_TOKEN', 'README_TOOLS_MCP_TOKEN');
  h = await startHarness({ 'targets/tools-mcp.yaml': target, 'policies/tools.yaml': await readFile('policies/policies/tools.yaml', 'utf8') }, { README_TOOLS_MCP_TOKEN: UPSTREAM });
});

afterAll(async () => {
  await h?.close();
  await server?.close();
});

describe('the README MCP example', () => {
  it('prints the tools, a masked lookup and the denial', async () => {
    const token = await h.token('support-agent');
    const { stdout } = await run('npx', ['tsx', 'docs/examples/mcp-agent.ts', `${h.gateway.url}/tools-mcp`], { env: { ...process.env, PORTCULLIS_TOKEN: token } });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('tools I may call: lookup_order, search_docs');
    expect(lines[1]).toMatch(/^lookup_order: \{"order_id":1042,"status":"shipped","customer":\{"id":7,"name":"Ada Lovelace","email":"a\*\*\*@example\.com",/);
    expect(lines[2]).toMatch(/^run_sql: MCP error -32010: portcullis: denied by rule support-tools\/no-admin-tools \(policy (commit|digest) [0-9a-f]{12}/);
  }, 60_000);
});
