/**
 * The `node-proxy` path of bench/http.ts: a bare reverse proxy to one upstream, in a process of its
 * own like the gateway child. It forwards the way the gateway forwards an allowed request
 * (runtime/http-transport/forward.ts and respond.ts) and does nothing else: no target routing, no token, no
 * policy decision, no evidence, no masking. Its RPS is the ceiling of any Node.js HTTP proxy on this
 * machine (node:http in, undici out, one more hop and process), so the gap between it and the
 * gateway is the gateway's own cost, and its gap to direct is what no Node.js proxy can win back.
 *
 * Environment: BENCH_UPSTREAM (the upstream's origin). Prints `{"port":N}` when ready; exits on SIGTERM.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
// The gateway's own header hygiene and body pipe: the same per-request work as its unmasked path,
// so the difference between the two rows is what the gateway adds, not how this file was written.
import { agentResponseHeaders, upstreamRequestHeaders } from '../runtime/http-transport/headers.ts';
import { pipeTo } from '../runtime/http-transport/respond.ts';
import { serveStageProfiler } from './http-stages.ts';

const origin = process.env.BENCH_UPSTREAM;
if (!origin) throw new Error('BENCH_UPSTREAM is required');
/** the bench targets' `timeout: 10s`, which the gateway uses as undici's headers and body timeouts */
const TIMEOUT_MS = 10_000;

// The gateway's pool for a plain-HTTP target (runtime/http-transport/upstream.ts, Dispatchers.get): an undici
// Agent (a keep-alive Pool per origin, no connection cap) with the same options.
const agent = new Agent({ connect: {}, keepAliveTimeout: 10_000 });

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  let up: Dispatcher.ResponseData;
  try {
    up = await agent.request({
      origin,
      path: req.url ?? '/',
      method: method as Dispatcher.HttpMethod,
      headers: upstreamRequestHeaders(req.headers, { credential: {} }),
      body: hasBody ? req : null,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
  } catch {
    // a failed row must not pass for a fast one: wrk counts the 502 as an error
    if (!req.complete) req.resume();
    res.writeHead(502, { 'content-length': '0' }).end();
    return;
  }
  // status and headers copied (hop-by-hop ones dropped), body streamed back as it arrives
  res.writeHead(up.statusCode, agentResponseHeaders(up.headers as Record<string, string | string[] | undefined>));
  if (method === 'HEAD' || up.statusCode === 204 || up.statusCode === 304) {
    up.body.on('error', () => {});
    up.body.destroy();
    res.end();
    return;
  }
  // pipeTo destroys both sides on an error; there is nobody left to tell
  await pipeTo(up.body, res).catch(() => {});
}

const server = createServer((req, res) => void handle(req, res));
// the gateway listener's settings (runtime/http-transport/listener.ts)
server.headersTimeout = 30_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  serveStageProfiler(process.stdin, (line) => process.stdout.write(`${line}\n`));
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void agent.close().finally(() => process.exit(0));
});
