/**
 * The one HTTP listener: agents call `http(s)://GATEWAY/<target>/<path>` with a bearer token, and the
 * request goes to the adapter of the target's type (HTTP, Kubernetes, MCP), handed in by the
 * composition root. Every refusal is written in the target type's error format: an RFC 9457 problem
 * by default, a Kubernetes Status for Kubernetes targets.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Bundle } from '../bundle/model.ts';
import { PortcullisError } from '../errors.ts';
import type { ListenerContext } from './context.ts';
import { admit, route } from './front.ts';
import type { ExchangeState, ProxyEnv, TargetHandler, TargetHandlers } from './handler.ts';
import { problemFormat, sendError, writeSocketError, type ErrorFormat } from './refusal.ts';
import { processMaskKey } from './masking/values.ts';
import { flushResults, recordResult } from './session.ts';
import { Dispatchers } from './upstream.ts';

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

/**
 * The listener for every target type that travels over HTTP. It does not know the protocols: each
 * target type's adapter is handed in (`handlers`, wired by runtime/gateway/http-listener.ts).
 */
export async function startHttpListener(ctx: ListenerContext, handlers: TargetHandlers, opts: HttpGatewayOptions = {}): Promise<HttpGateway> {
  const dispatchers = new Dispatchers();
  const env: ProxyEnv = { dispatchers, maskKey: opts.maskKey ?? processMaskKey };
  const byType = new Map<string, TargetHandler>();
  for (const [type, make] of Object.entries(handlers)) if (make) byType.set(type, make(ctx, env));
  const handler = (req: IncomingMessage, res: ServerResponse) => void handleRequest(ctx, byType, req, res);
  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttpServer(handler);
  // Headers arrive quickly from real clients; a slow trickle is an attack on the listener.
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // watch and exec streams live long; upstream timeouts bound the rest
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleUpgrade(ctx, byType, req, socket, head));
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
      for (const h of byType.values()) await h.close?.();
      await dispatchers.close();
    },
  };
}

/** The handler of a target's type, or undefined when there is no such target (or no bundle) yet. */
function handlerOf(byType: ReadonlyMap<string, TargetHandler>, bundle: Bundle | undefined, targetName: string): TargetHandler | undefined {
  const type = bundle?.targets.get(targetName)?.doc.spec.type;
  return type === undefined ? undefined : byType.get(type);
}

/** The error format before we know who is asking: a target's type speaks its own (Kubernetes: Status objects). */
function formatOf(handler: TargetHandler | undefined): ErrorFormat {
  return handler?.errorFormat ?? problemFormat;
}

async function handleRequest(ctx: ListenerContext, byType: ReadonlyMap<string, TargetHandler>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const state: ExchangeState = { maskedValues: 0 };
  let format = problemFormat;
  let status = 0;
  let failure: PortcullisError | undefined;
  try {
    const routed = route(req.url);
    const routedTo = handlerOf(byType, ctx.bundle(), routed.targetName);
    format = formatOf(routedTo);
    // MCP sessions span many requests, so the endpoint records its own decisions and results
    if (routedTo?.routed) await routedTo.routed(req, res, routed);
    else {
      const admitted = await admit(ctx, req, routed);
      const served = byType.get(admitted.upstream.type)?.request;
      if (!served) throw notServed(admitted.upstream.name);
      await served(req, res, admitted, state);
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
  recordResult(ctx, state.exchange, {
    status,
    durationMs: Math.round(performance.now() - started),
    maskedValues: state.maskedValues,
    ...(failure ? { error: failure } : {}),
  });
}

/** A target whose type this listener was given no adapter for: as unknown to the agent as a missing one. */
function notServed(targetName: string): PortcullisError {
  return new PortcullisError('not_found', `no HTTP or Kubernetes target named ${JSON.stringify(targetName)}`, {
    details: { hint: 'call the gateway as /<target>/<path>, with a target of type http or kubernetes' },
  });
}

const UPGRADE_KIND = { http: 'an HTTP', kubernetes: 'a Kubernetes' } as const;

async function handleUpgrade(ctx: ListenerContext, byType: ReadonlyMap<string, TargetHandler>, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const started = performance.now();
  const state: ExchangeState = { maskedValues: 0 };
  let format = problemFormat;
  socket.on('error', () => socket.destroy());
  try {
    const routed = route(req.url);
    format = formatOf(handlerOf(byType, ctx.bundle(), routed.targetName));
    const admitted = await admit(ctx, req, routed);
    const up = admitted.upstream;
    const upgrade = byType.get(up.type)?.upgrade;
    if (!upgrade) {
      throw new PortcullisError('invalid_argument', `target ${up.name} is ${UPGRADE_KIND[up.type]} target; the gateway does not proxy upgraded connections to it`, {
        details: { status: 501 },
      });
    }
    const outcome = await upgrade(req, socket, head, admitted, state);
    recordResult(ctx, state.exchange, { status: outcome.status, durationMs: Math.round(performance.now() - started), maskedValues: 0 });
  } catch (error) {
    const failure = PortcullisError.from(error);
    const status = writeSocketError(socket, failure, format);
    recordResult(ctx, state.exchange, { status, durationMs: Math.round(performance.now() - started), maskedValues: 0, error: failure });
  }
}
