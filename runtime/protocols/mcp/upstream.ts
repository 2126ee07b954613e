/**
 * Talking to the MCP server: one HTTP exchange of the Streamable HTTP transport, with the target's
 * credential (never the agent's) and only the headers the transport defines. Anything else an agent
 * sends stays at the gateway: there is no header an agent can use to steer the server.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { PortcullisError } from '../../errors.ts';
import { mediaType } from '../../http-transport/headers.ts';
import { readLimited } from '../../http-transport/masking/body.ts';
import { credentialHeaders, upstreamError, type Dispatchers } from '../../http-transport/upstream.ts';
import { isJSONRPCRequest, type JSONRPCMessage } from './jsonrpc.ts';
import { parseSse, type SseEvent } from './sse.ts';
import { upstreamPath, type McpTarget } from './target.ts';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';

const FORWARDED = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'user-agent'] as const;

export type Reply = Dispatcher.ResponseData;

export interface SendOptions {
  method: 'POST' | 'GET' | 'DELETE';
  /** the transport's headers, from the agent or made by the gateway */
  headers: Record<string, string>;
  body?: string;
  /** a standalone GET stream lives as long as the session: no idle deadline */
  longLived?: boolean;
}

export function transportHeaders(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = incoming[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

export async function send(dispatchers: Dispatchers, target: McpTarget, opts: SendOptions): Promise<Reply> {
  const up = target.upstream;
  const headers: Record<string, string> = { ...opts.headers, ...(await credentialHeaders(up)) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const dispatcher = await dispatchers.get(up);
    return await dispatcher.request({
      origin: up.origin,
      path: upstreamPath(target),
      method: opts.method,
      headers,
      body: opts.body ?? null,
      headersTimeout: up.timeoutMs,
      bodyTimeout: opts.longLived ? 0 : up.timeoutMs,
    });
  } catch (error) {
    throw upstreamError(error, up);
  }
}

export type ReplyKind = 'json' | 'sse' | 'none';

export function replyKind(reply: Reply): ReplyKind {
  const type = mediaType(reply.headers['content-type']);
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/json') return 'json';
  return 'none';
}

function notJsonRpc(target: McpTarget, cause?: unknown): PortcullisError {
  return new PortcullisError('protocol_violation', `target ${target.name} answered with something that is not MCP JSON-RPC`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { status: 502 },
  });
}

/** The messages of one JSON event or body: a message or an array of them, each checked. */
export function messagesOf(text: string, target: McpTarget): JSONRPCMessage[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw notJsonRpc(target, error);
  }
  const list = Array.isArray(raw) ? raw : [raw];
  for (const m of list) if (!JSONRPCMessageSchema.safeParse(m).success) throw notJsonRpc(target);
  return list as JSONRPCMessage[];
}

export async function readJsonReply(reply: Reply, target: McpTarget): Promise<JSONRPCMessage[]> {
  const body = await readLimited(reply.body, target.upstream.maxBodyBytes, target.name);
  return messagesOf(body.toString('utf8'), target);
}

export async function* sseEvents(reply: Reply, target: McpTarget): AsyncGenerator<SseEvent> {
  yield* parseSse(reply.body, target.upstream.maxBodyBytes, target.name);
}

/** Priming events and keep-alives: an event whose data is empty or blank is not a message. */
export function isEmptyData(e: SseEvent): boolean {
  return e.data.trim() === '';
}

/** Drain a body nobody will read, so the pooled connection can be reused. */
export function discard(reply: Reply): void {
  reply.body.on('error', () => {});
  reply.body.resume();
}

/**
 * One request the gateway makes itself in the agent's session (listing tools to check their
 * definitions before a call) and its response, whichever way the server answers.
 */
export async function ask(dispatchers: Dispatchers, target: McpTarget, headers: Record<string, string>, request: JSONRPCMessage): Promise<JSONRPCMessage> {
  const id = isJSONRPCRequest(request) ? request.id : undefined;
  const reply = await send(dispatchers, target, {
    method: 'POST',
    headers: { ...headers, accept: 'application/json, text/event-stream' },
    body: JSON.stringify(request),
  });
  if (reply.statusCode !== 200) {
    discard(reply);
    throw new PortcullisError('unavailable', `target ${target.name} answered ${reply.statusCode} to the gateway's own ${isJSONRPCRequest(request) ? request.method : 'message'}`, {
      details: { status: 502, upstreamStatus: reply.statusCode },
    });
  }
  const kind = replyKind(reply);
  if (kind === 'json') {
    const found = (await readJsonReply(reply, target)).find((m) => 'id' in m && m.id === id && !('method' in m));
    if (found) return found;
  } else if (kind === 'sse') {
    try {
      for await (const e of sseEvents(reply, target)) {
        if (e.event !== undefined && e.event !== 'message') continue;
        // a priming event (an id for resumption, empty data; protocol 2025-11-25) carries no message
        if (isEmptyData(e)) continue;
        const found = messagesOf(e.data, target).find((m) => 'id' in m && m.id === id && !('method' in m));
        if (found) return found;
      }
    } finally {
      reply.body.destroy();
    }
  } else discard(reply);
  throw notJsonRpc(target);
}
