/**
 * A real MCP server for the tests, built with the SDK: McpServer + StreamableHTTPServerTransport on
 * node:http, one server per session as the SDK documents. It answers with JSON or with SSE streams,
 * demands its own credential (never the agent's token) and remembers what reached it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import * as z from 'zod';

export const CUSTOMER = { id: 7, name: 'Ada Lovelace', email: 'ada@example.com', ssn: '123-45-6789' };

export interface TestMcpServer {
  url: string;
  port: number;
  /** Authorization headers the server received ('' when none) */
  authorizations: string[];
  /** tools/call names that reached the server */
  calls: string[];
  /** change a tool's description in every live session and in new ones */
  describe(tool: string, description: string): void;
  close(): Promise<void>;
}

export const DESCRIPTIONS: Record<string, string> = {
  lookup_order: 'Look up an order and its customer by order id.',
  search_docs: 'Search the help-centre articles.',
  run_sql: 'Run a SQL statement against the shop database.',
  delete_customer: 'Delete a customer and all their data.',
  read_file: 'Read a file from the support share.',
};

/**
 * `eventStore`: keep each session's events for resumption, as the SDK's example server does; the
 * server then opens every SSE stream with a priming event (an id and empty data) for clients that
 * speak protocol 2025-11-25 or later.
 */
export async function startMcpServer(opts: { json: boolean; token: string; stateless?: boolean; header?: string; port?: number; eventStore?: boolean }): Promise<TestMcpServer> {
  const authorizations: string[] = [];
  const calls: string[] = [];
  const descriptions = { ...DESCRIPTIONS };
  const live: Map<string, RegisteredTool>[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();

  const build = (): McpServer => {
    const server = new McpServer({ name: 'shop-tools', version: '1.0.0' }, { capabilities: { logging: {} } });
    const tools = new Map<string, RegisteredTool>();
    const note = (name: string) => calls.push(name);
    tools.set(
      'lookup_order',
      server.registerTool(
        'lookup_order',
        {
          description: descriptions.lookup_order!,
          inputSchema: { order_id: z.number() },
          outputSchema: { order_id: z.number(), status: z.string(), customer: z.object({ id: z.number(), name: z.string(), email: z.string(), ssn: z.string() }) },
        },
        async ({ order_id }) => {
          note('lookup_order');
          const structured = { order_id, status: 'shipped', customer: CUSTOMER };
          return {
            content: [
              { type: 'text', text: JSON.stringify(structured) },
              { type: 'text', text: `Contact ${CUSTOMER.email} about order ${order_id}.` },
            ],
            structuredContent: structured,
          };
        },
      ),
    );
    tools.set(
      'search_docs',
      server.registerTool('search_docs', { description: descriptions.search_docs!, inputSchema: { query: z.string() } }, async ({ query }) => {
        note('search_docs');
        return { content: [{ type: 'text', text: `3 articles match "${query}": refunds, shipping, returns.` }] };
      }),
    );
    tools.set(
      'run_sql',
      server.registerTool('run_sql', { description: descriptions.run_sql!, inputSchema: { sql: z.string() } }, async () => {
        note('run_sql');
        return { content: [{ type: 'text', text: 'DELETE 1042' }] };
      }),
    );
    tools.set(
      'delete_customer',
      server.registerTool('delete_customer', { description: descriptions.delete_customer!, inputSchema: { customer_id: z.number() } }, async () => {
        note('delete_customer');
        return { content: [{ type: 'text', text: 'deleted' }] };
      }),
    );
    tools.set(
      'read_file',
      server.registerTool('read_file', { description: descriptions.read_file!, inputSchema: { path: z.string() } }, async ({ path }) => {
        note('read_file');
        return { content: [{ type: 'text', text: `contents of ${path}` }] };
      }),
    );
    tools.set(
      'notify_customer',
      server.registerTool('notify_customer', { description: 'Email a customer about their order.', inputSchema: { order_id: z.number() } }, async ({ order_id }, extra) => {
        note('notify_customer');
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: { note: `emailed ${CUSTOMER.email}`, email: CUSTOMER.email } } });
        return { content: [{ type: 'text', text: `order ${order_id}: customer notified` }] };
      }),
    );
    tools.set(
      'screenshot',
      server.registerTool('screenshot', { description: 'A screenshot of the order page.', inputSchema: { order_id: z.number() } }, async () => {
        note('screenshot');
        return { content: [{ type: 'image', data: Buffer.from('not really a png').toString('base64'), mimeType: 'image/png' }] };
      }),
    );
    tools.set(
      'customer_note',
      server.registerTool('customer_note', { description: 'The free-text note on a customer.', inputSchema: { customer_id: z.number() } }, async () => {
        note('customer_note');
        // pretty-printed JSON inside prose: the detectors see the email, but the field name says more may hide there
        return { content: [{ type: 'text', text: `Note:\n  "ssn": "078-05-1120",\nend` }] };
      }),
    );
    tools.set(
      'customer_card',
      server.registerTool('customer_card', { description: 'The customer record of an order, attached as a resource.', inputSchema: { order_id: z.number() } }, async () => {
        note('customer_card');
        // a tool can hand back a resource by value or by link: both name customers://7
        return {
          content: [
            { type: 'resource', resource: { uri: 'customers://7', mimeType: 'application/json', text: JSON.stringify(CUSTOMER) } },
            { type: 'resource_link', uri: 'customers://7', name: 'customer', mimeType: 'application/json' },
            { type: 'resource', resource: { uri: 'docs://refund-policy', mimeType: 'text/plain', text: 'Refunds within 30 days.' } },
          ],
        };
      }),
    );
    server.registerResource('refund-policy', 'docs://refund-policy', { mimeType: 'text/plain' }, async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Refunds within 30 days. Questions: refunds@example.com' }],
    }));
    server.registerResource('customer', 'customers://7', { mimeType: 'application/json' }, async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(CUSTOMER) }],
    }));
    live.push(tools);
    return server;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    authorizations.push(String(req.headers.authorization ?? ''));
    const presented = opts.header ? req.headers[opts.header] : req.headers.authorization;
    if (presented !== (opts.header ? opts.token : `Bearer ${opts.token}`)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    let body: unknown;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    }
    if (opts.stateless) {
      // stateless mode, as the SDK documents it: a fresh server and transport per request
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: opts.json });
      const s = build();
      res.on('close', () => {
        void t.close();
        void s.close();
      });
      await s.connect(t);
      await t.handleRequest(req, res, body);
      return;
    }
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? transports.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string' || !isInitializeRequest(body)) {
        res.writeHead(typeof id === 'string' ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no session' }, id: null }));
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: opts.json,
        ...(opts.eventStore ? { eventStore: new InMemoryEventStore() } : {}),
        onsessioninitialized: (sid) => void transports.set(sid, created),
      });
      created.onclose = () => {
        if (created.sessionId) transports.delete(created.sessionId);
      };
      await build().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    authorizations,
    calls,
    describe(tool, description) {
      descriptions[tool] = description;
      for (const tools of live) tools.get(tool)?.update({ description });
    },
    async close() {
      for (const t of transports.values()) await t.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
