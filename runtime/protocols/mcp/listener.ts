/**
 * MCP Streamable HTTP at `/<target>` of the HTTP listener. POST carries JSON-RPC messages (answered
 * with JSON or an SSE stream, as the server chooses), GET opens the server's own SSE stream, DELETE
 * ends the session. The gateway is a transparent JSON-RPC proxy: requests are decided one by one
 * (runtime/protocols/mcp/exchange.ts); everything coming back is matched, filtered and masked message by
 * message, event by event, so a stream is never buffered whole and never passes unexamined.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { Bundle } from '../../bundle/model.ts';
import { PortcullisError } from '../../errors.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Routed } from '../../http-transport/front.ts';
import type { TargetHandlerFactory } from '../../http-transport/handler.ts';
import { readLimited } from '../../http-transport/masking/body.ts';
import type { Dispatchers } from '../../http-transport/upstream.ts';
import { admitMcp } from './admit.ts';
import { admitRequest, completeResponse, serverMessage, type ExchangeEnv } from './exchange.ts';
import { idKey, isJSONRPCRequest, isResponse, parseMessages, type JSONRPCMessage, type JSONRPCRequest } from './jsonrpc.ts';
import { errorResponse } from './refusal.ts';
import { McpSessions, type McpSession } from './session.ts';
import { formatSse } from './sse.ts';
import type { McpTarget } from './target.ts';
import { discard, isEmptyData, messagesOf, readJsonReply, replyKind, send, sseEvents, transportHeaders, type Reply } from './upstream.ts';

export interface McpEndpointOptions {
  dispatchers: Dispatchers;
  maskKey: Buffer;
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  bundle: Bundle;
  target: McpTarget;
  session: McpSession;
}

/**
 * The MCP adapter as the one HTTP listener (runtime/http-transport/listener.ts) sees it: a session
 * spans many requests, so the endpoint admits each request and records its own results.
 */
export const mcpHandler: TargetHandlerFactory = (ctx, env) => {
  const endpoint = new McpEndpoint(ctx, { dispatchers: env.dispatchers, maskKey: env.maskKey });
  return { routed: (req, res, routed) => endpoint.serve(req, res, routed), close: () => endpoint.close() };
};

export class McpEndpoint {
  private readonly env: ExchangeEnv;

  constructor(ctx: ListenerContext, opts: McpEndpointOptions) {
    this.env = { ctx, dispatchers: opts.dispatchers, maskKey: opts.maskKey, sessions: new McpSessions(ctx) };
  }

  async serve(req: IncomingMessage, res: ServerResponse, routed: Routed): Promise<void> {
    const { bundle, subject, target } = await admitMcp(this.env.ctx, req, routed);
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      req.resume();
      res.writeHead(405, { allow: 'GET, POST, DELETE', 'content-length': '0' }).end();
      return;
    }
    const headerId = typeof req.headers['mcp-session-id'] === 'string' ? req.headers['mcp-session-id'] : undefined;
    if (method !== 'POST' && headerId === undefined) {
      // without a session there is no server stream to open or session to end (stateless servers)
      req.resume();
      res.writeHead(405, { allow: 'POST', 'content-length': '0' }).end();
      return;
    }
    const session = this.env.sessions.lookup(headerId, subject, target.name, req.socket as Socket, bundle);
    if (!session) {
      req.resume();
      sendJson(res, 404, errorResponse(null, new PortcullisError('not_found', 'session not found; initialize a new one', { details: { rpcCode: -32001 } })));
      return;
    }
    const call: Call = { req, res, bundle, target, session };
    if (method === 'POST') await this.post(call);
    else if (method === 'GET') await this.stream(call);
    else await this.end(call);
  }

  async close(): Promise<void> {
    await this.env.sessions.close();
  }

  private async post(call: Call): Promise<void> {
    const { req, res, target, session } = call;
    const text = await readBody(req, target);
    let parsed;
    try {
      parsed = parseMessages(text);
    } catch (error) {
      sendJson(res, 400, errorResponse(null, error));
      return;
    }
    const local: JSONRPCMessage[] = [];
    const forwarded: JSONRPCMessage[] = [];
    for (const m of parsed.messages) {
      if (!isJSONRPCRequest(m)) {
        // notifications, and the agent's answers to the server's own requests: nothing to decide
        forwarded.push(m);
        continue;
      }
      const refusal = await admitRequest(this.env, session, call.bundle, target, m);
      if (refusal) local.push(refusal);
      else forwarded.push(m);
    }
    if (forwarded.length === 0) {
      this.answerLocally(call, local, parsed.batch);
      return;
    }
    const requests = forwarded.filter(isJSONRPCRequest);
    let reply: Reply;
    try {
      reply = await send(this.env.dispatchers, target, {
        method: 'POST',
        headers: transportHeaders(req.headers),
        body: JSON.stringify(parsed.batch ? forwarded : forwarded[0]),
      });
    } catch (error) {
      if (requests.length === 0) throw error;
      local.push(...(await this.fail(session, requests, error)));
      this.answerLocally(call, local, parsed.batch);
      return;
    }
    const assigned = reply.headers['mcp-session-id'];
    if (typeof assigned === 'string' && reply.statusCode < 300) this.env.sessions.bind(session, assigned, req.socket as Socket);
    if (reply.statusCode === 202) {
      discard(reply);
      if (local.length > 0) this.answerLocally(call, local, parsed.batch);
      else res.writeHead(202, { 'content-length': '0' }).end();
      return;
    }
    if (reply.statusCode !== 200) {
      await this.relayFailure(call, reply, requests);
      return;
    }
    const kind = replyKind(reply);
    if (kind === 'json') {
      session.prefersSse = false;
      let out: JSONRPCMessage[];
      try {
        out = await this.fromServer(call, await readJsonReply(reply, target));
      } catch (error) {
        local.push(...(await this.fail(session, requests, error)));
        this.answerLocally(call, local, parsed.batch);
        return;
      }
      // a JSON answer carries every response of the POST; a request left unanswered never will be
      const missing = requests.filter((r) => session.pending.has(idKey(r.id)));
      if (missing.length > 0) out.push(...(await this.fail(session, missing, new PortcullisError('protocol_violation', `target ${target.name} did not answer the request`))));
      out.push(...local);
      const body = !parsed.batch && out.length === 1 ? out[0] : out;
      sendJson(res, 200, body, session);
      return;
    }
    if (kind === 'sse') {
      session.prefersSse = true;
      await this.pipeEvents(call, reply, local);
      return;
    }
    discard(reply);
    local.push(...(await this.fail(session, requests, new PortcullisError('protocol_violation', `target ${target.name} answered with neither JSON nor an event stream`))));
    this.answerLocally(call, local, parsed.batch);
  }

  /** GET: the server's standalone stream (notifications, its own requests, resumed answers). */
  private async stream(call: Call): Promise<void> {
    const reply = await send(this.env.dispatchers, call.target, { method: 'GET', headers: transportHeaders(call.req.headers), longLived: true });
    if (reply.statusCode === 404) return this.sessionGone(call, reply);
    if (reply.statusCode !== 200 || replyKind(reply) !== 'sse') {
      discard(reply);
      call.res.writeHead(reply.statusCode === 200 ? 502 : reply.statusCode, { 'content-length': '0' }).end();
      return;
    }
    // While the client holds this stream open it is there; when it drops it (the SDK's close(), a
    // process that exits) with nothing else open, the session ends as the client left (session.ts).
    let clientLeft = false;
    call.res.once('close', () => (clientLeft = !call.res.writableFinished));
    this.env.sessions.streamOpened(call.session);
    try {
      await this.pipeEvents(call, reply, []);
    } finally {
      this.env.sessions.streamClosed(call.session, clientLeft || call.res.destroyed);
    }
  }

  private async end(call: Call): Promise<void> {
    const reply = await send(this.env.dispatchers, call.target, { method: 'DELETE', headers: transportHeaders(call.req.headers) });
    discard(reply);
    if (reply.statusCode < 300 || reply.statusCode === 404) await this.env.sessions.end(call.session, 'client-closed');
    call.res.writeHead(reply.statusCode, { 'content-length': '0' }).end();
  }

  /** Every message from the server, in order, as the agent may see it. */
  private async fromServer(call: Call, messages: JSONRPCMessage[]): Promise<JSONRPCMessage[]> {
    const out: JSONRPCMessage[] = [];
    for (const m of messages) {
      const shown = isResponse(m) ? await completeResponse(this.env, call.session, call.target, m) : serverMessage(this.env, call.bundle, call.target, m);
      if (shown) out.push(shown);
    }
    return out;
  }

  private async pipeEvents(call: Call, reply: Reply, local: JSONRPCMessage[]): Promise<void> {
    const { res, session } = call;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-store',
      ...(session.upstreamId ? { 'mcp-session-id': session.upstreamId } : {}),
    });
    res.flushHeaders();
    for (const m of local) res.write(formatSse({ data: JSON.stringify(m) }));
    const closed = () => reply.body.destroy();
    res.once('close', closed);
    try {
      for await (const e of sseEvents(reply, call.target)) {
        if (e.event !== undefined && e.event !== 'message') continue;
        if (isEmptyData(e)) {
          // priming event (an id for resumption, no message)
          res.write(formatSse({ ...e, data: '' }));
          continue;
        }
        const batch = e.data.trimStart().startsWith('[');
        const shown = await this.fromServer(call, messagesOf(e.data, call.target));
        if (shown.length === 0) continue;
        res.write(formatSse({ ...e, data: JSON.stringify(batch ? shown : shown[0]) }));
      }
    } catch (error) {
      // mid-stream there is no status left to send: cut the stream rather than pass an event unexamined
      if (!res.destroyed) this.env.ctx.log('mcp.stream-cut', { target: call.target.name, reason: String((error as Error).message ?? error) });
    } finally {
      res.off('close', closed);
      reply.body.destroy();
      res.end();
    }
  }

  private answerLocally(call: Call, messages: JSONRPCMessage[], batch: boolean): void {
    const { req, res, session } = call;
    const accept = String(req.headers.accept ?? '');
    const sse = accept.includes('text/event-stream') && (session.prefersSse || !accept.includes('application/json'));
    if (!sse) {
      sendJson(res, 200, !batch && messages.length === 1 ? messages[0] : messages, session);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-store',
      ...(session.upstreamId ? { 'mcp-session-id': session.upstreamId } : {}),
    });
    for (const m of messages) res.write(formatSse({ data: JSON.stringify(m) }));
    res.end();
  }

  /** The server could not answer forwarded requests: each gets an error, and the record says why. */
  private async fail(session: McpSession, requests: JSONRPCRequest[], err: unknown): Promise<JSONRPCMessage[]> {
    const error = PortcullisError.from(err, 'unavailable');
    if (error.code === 'internal' || error.code === 'unavailable') this.env.ctx.log('mcp.upstream-error', { message: error.message, cause: String((error.cause as Error | undefined)?.message ?? '') });
    const out: JSONRPCMessage[] = [];
    for (const r of requests) {
      const p = session.pending.get(idKey(r.id));
      session.pending.delete(idKey(r.id));
      await this.env.sessions.recordResult(p?.exchange, { durationMs: 0, maskedValues: 0, error: { code: error.code, message: error.message } });
      out.push(errorResponse(r.id, error));
    }
    return out;
  }

  private async relayFailure(call: Call, reply: Reply, requests: JSONRPCRequest[]): Promise<void> {
    if (reply.statusCode === 404 && call.session.upstreamId !== undefined) return this.sessionGone(call, reply);
    discard(reply);
    const status = reply.statusCode;
    for (const r of requests) {
      const p = call.session.pending.get(idKey(r.id));
      call.session.pending.delete(idKey(r.id));
      await this.env.sessions.recordResult(p?.exchange, { durationMs: 0, maskedValues: 0, error: { code: `http_${status}`, message: `target ${call.target.name} answered ${status}` } });
    }
    // the server's own error body may quote the request's data; the agent gets the status and the gateway's words
    const error = new PortcullisError('unavailable', `target ${call.target.name} answered HTTP ${status}`, {
      details: { rpcCode: status === 400 ? ErrorCode.InvalidRequest : ErrorCode.InternalError },
    });
    sendJson(call.res, status >= 400 && status < 600 ? status : 502, errorResponse(null, error));
  }

  private async sessionGone(call: Call, reply: Reply): Promise<void> {
    discard(reply);
    await this.env.sessions.end(call.session, 'server-ended');
    sendJson(call.res, 404, errorResponse(null, new PortcullisError('not_found', 'session not found; initialize a new one', { details: { rpcCode: -32001 } })));
  }
}

async function readBody(req: IncomingMessage, target: McpTarget): Promise<string> {
  const limit = target.upstream.maxBodyBytes;
  const tooLarge = () => new PortcullisError('resource_exhausted', `the request body is larger than ${limit} bytes, the most target ${target.name} accepts`, { details: { status: 413, limit } });
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  try {
    return (await readLimited(req, limit, target.name)).toString('utf8');
  } catch (error) {
    throw PortcullisError.is(error, 'resource_exhausted') ? tooLarge() : error;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, session?: McpSession): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(text.length),
    'cache-control': 'no-store',
    ...(session?.upstreamId ? { 'mcp-session-id': session.upstreamId } : {}),
  });
  res.end(text);
}
