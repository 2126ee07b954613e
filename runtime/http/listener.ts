/**
 * The HTTP and Kubernetes listener: agents call `http(s)://GATEWAY/<target>/<path>` with a bearer
 * token. Plain HTTP targets are reverse-proxied with policy on method, path and query; Kubernetes
 * targets additionally get API-server request attributes, Secret masking and exec/attach streams.
 * Every refusal is an RFC 9457 problem (HTTP targets) or a Kubernetes Status (Kubernetes targets).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { PortcullisError } from '../errors.ts';
import type { ListenerContext } from './context.ts';
import { admit, formatFor, route } from './front.ts';
import { sendError, writeSocketError } from './refusal.ts';
import { proxyHttp, type ExchangeState, type ProxyEnv } from './proxy.ts';
import { processMaskKey } from './masking/values.ts';
import { flushResults, recordResult } from './session.ts';
import { Dispatchers } from './upstream.ts';
import { proxyKubernetes } from '../kubernetes/proxy.ts';
import { proxyUpgrade } from '../kubernetes/upgrade.ts';
import { McpEndpoint } from '../mcp/listener.ts';
import { isMcpTarget } from '../mcp/target.ts';

export interface HttpGatewayOptions {
  host?: string;
  /** 0 (the default) picks a free port */
  port?: number;
  /** the gateway's masking key (GatewayRuntime.maskKey), so hashes match across protocols and restarts */
  maskKey?: Buffer;
  /** PEM certificate and key; without them the listener speaks plain HTTP */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface HttpGateway {
  port: number;
  /** e.g. http://127.0.0.1:8080; a target lives at `${url}/${target}` */
  url: string;
  close(): Promise<void>;
}

export async function startHttpGateway(ctx: ListenerContext, opts: HttpGatewayOptions = {}): Promise<HttpGateway> {
  const dispatchers = new Dispatchers();
  const env: ProxyEnv = { dispatchers, maskKey: opts.maskKey ?? processMaskKey };
  const mcp = new McpEndpoint(ctx, { dispatchers, maskKey: env.maskKey });
  const handler = (req: IncomingMessage, res: ServerResponse) => void handleRequest(ctx, env, req, res, mcp);
  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttpServer(handler);
  // Headers arrive quickly from real clients; a slow trickle is an attack on the listener.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // watch and exec streams live long; upstream timeouts bound the rest
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleUpgrade(ctx, req, socket, head));
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${opts.tls ? 'https' : 'http'}://${host}:${address.port}`;
  ctx.log('http.listening', { url });
  return {
    port: address.port,
    url,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // exec streams and watches do not end by themselves
      for (const s of sockets) s.destroy();
      await closed;
      await flushResults(ctx);
      await mcp.close();
      await dispatchers.close();
    },
  };
}

async function handleRequest(ctx: ListenerContext, env: ProxyEnv, req: IncomingMessage, res: ServerResponse, mcp: McpEndpoint): Promise<void> {
  const started = performance.now();
  const state: ExchangeState = { maskedValues: 0 };
  let format = formatFor(undefined, '');
  let status = 0;
  let failure: PortcullisError | undefined;
  try {
    const routed = route(req.url);
    format = formatFor(ctx.bundle(), routed.targetName);
    // MCP sessions span many requests, so the endpoint records its own decisions and results
    if (isMcpTarget(ctx.bundle(), routed.targetName)) await mcp.serve(req, res, routed);
    else {
      const admitted = await admit(ctx, req, routed);
      if (admitted.upstream.type === 'kubernetes') await proxyKubernetes(ctx, env, req, res, admitted, state);
      else await proxyHttp(ctx, env, req, res, admitted, state);
    }
    status = res.statusCode;
  } catch (error) {
    failure = PortcullisError.from(error);
    status = sendError(res, failure, format);
    // the body was not read; drop it instead of letting it block the connection
    if (!req.complete) req.resume();
    if (failure.code === 'internal' || failure.code === 'unavailable' || failure.code === 'deadline_exceeded') {
      ctx.log('http.error', { code: failure.code, message: failure.message, cause: String((failure.cause as Error | undefined)?.message ?? '') });
    }
  }
  await recordResult(ctx, state.exchange, {
    status,
    durationMs: Math.round(performance.now() - started),
    maskedValues: state.maskedValues,
    ...(failure ? { error: failure } : {}),
  });
}

async function handleUpgrade(ctx: ListenerContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const started = performance.now();
  const state: ExchangeState = { maskedValues: 0 };
  let format = formatFor(undefined, '');
  socket.on('error', () => socket.destroy());
  try {
    const routed = route(req.url);
    format = formatFor(ctx.bundle(), routed.targetName);
    const admitted = await admit(ctx, req, routed);
    const outcome = await proxyUpgrade(ctx, req, socket, head, admitted, state);
    await recordResult(ctx, state.exchange, { status: outcome.status, durationMs: Math.round(performance.now() - started), maskedValues: 0 });
  } catch (error) {
    const failure = PortcullisError.from(error);
    const status = writeSocketError(socket, failure, format);
    await recordResult(ctx, state.exchange, { status, durationMs: Math.round(performance.now() - started), maskedValues: 0, error: failure });
  }
}
