/**
 * SQL in a tool's arguments is decided as the PostgreSQL gateway would decide it: the same analysis,
 * the database target's own rules, each statement recorded as a postgres request. The target's
 * `sql` list is a proposed schema field, so the test adds it to the loaded bundle in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectMcp } from './client.ts';
import { startHarness, type Harness } from '../http/harness.ts';
import { startMcpServer, type TestMcpServer } from '../../runtime/embedded/demo/mcp.ts';

const TOKEN = 'upstream-secret-sql';

const TARGETS = (url: string) => `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: tools }
spec:
  type: mcp
  url: ${url}
  auth: { bearer: { env: TEST_MCP_SQL_TOKEN } }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: shop-db }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5432
  database: shop
  user: gateway
  password: { env: TEST_MCP_SQL_DB_PASSWORD }
  classification:
    - name: pii
      columns: [customers.email]
      strategy: partial
`;

const POLICIES = `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: sql-tool }
spec:
  subjects: [{ group: support }]
  targets: [tools]
  rules:
    - id: may-query
      effect: allow
      actions: [tools/call]
      resources: [run_sql]
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: shop-read }
spec:
  subjects: [{ group: support }]
  targets: [shop-db]
  rules:
    - id: read
      effect: allow
      actions: [select]
      resources: [orders, customers]
    - id: no-writes
      effect: deny
      actions: [insert, update, delete]
      resources: ["*"]
`;

describe('SQL tool arguments', () => {
  let server: TestMcpServer;
  let h: Harness;
  let client: Client;

  beforeAll(async () => {
    server = await startMcpServer({ json: true, token: TOKEN });
    h = await startHarness({ 'targets/all.yaml': TARGETS(server.url), 'policies/all.yaml': POLICIES }, { TEST_MCP_SQL_TOKEN: TOKEN, TEST_MCP_SQL_DB_PASSWORD: 'x' });
    const bundle = h.runtime.ctx.bundle()!;
    const located = bundle.targets.get('tools')!;
    const spec: unknown = { ...located.doc.spec, sql: [{ tool: 'run_sql', argument: '$.sql', target: 'shop-db' }] };
    (bundle.targets as Map<string, typeof located>).set('tools', { ...located, doc: { ...located.doc, spec: spec as typeof located.doc.spec } });
    ({ client } = await connectMcp(`${h.gateway.url}/tools`, await h.token('support-agent'), { name: 'support-bot' }));
  });

  afterAll(async () => {
    await client?.close();
    await h?.close();
    await server?.close();
  });

  it('lets a statement the database rules allow through', async () => {
    const result = await client.callTool({ name: 'run_sql', arguments: { sql: 'select id, status from orders where id = 1' } });
    expect(result.isError).toBeFalsy();
    expect(server.calls).toContain('run_sql');
  });

  it('refuses a statement the database rules deny, naming the rule', async () => {
    const before = server.calls.length;
    await expect(client.callTool({ name: 'run_sql', arguments: { sql: 'select id from orders; delete from orders' } })).rejects.toThrow(/denied by rule shop-read\/no-writes/);
    expect(server.calls.length).toBe(before);
  });

  it('refuses reading a masked column, which a tool result cannot mask', async () => {
    await expect(client.callTool({ name: 'run_sql', arguments: { sql: 'select c.email from customers c' } })).rejects.toThrow(/customers.*must be masked/);
  });

  it('refuses SQL that does not parse', async () => {
    await expect(client.callTool({ name: 'run_sql', arguments: { sql: 'selec nothing' } })).rejects.toThrow(/cannot parse SQL/);
  });

  it('records each statement as a postgres request in the MCP session', async () => {
    const records = await h.evidence(['decision']);
    const pg = records.filter((r) => r.data.request.protocol === 'postgres');
    expect(pg.map((r) => [r.data.request.statement.class, r.data.decision.effect])).toEqual([
      ['select', 'allow'],
      ['select', 'allow'],
      ['delete', 'deny'],
      // policy allows it, the masking check refuses it: recorded once that check has run (one exchange core)
      ['select', 'deny'],
    ]);
    expect(pg[3]!.data.decision.reason).toMatch(/^refused by masking: .*must be masked/);
    const call = records.find((r) => r.data.request.protocol === 'mcp')!;
    expect(pg[0]!.data.sessionId).toBe(call.data.sessionId);
  });
});
