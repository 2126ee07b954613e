/**
 * JSON-RPC 2.0 messages of MCP, validated with the SDK's own schemas. The gateway forwards the
 * *parsed* value re-serialised (never the agent's bytes), so the upstream reads exactly the request
 * policy decided on: duplicate keys and odd escapes cannot read one way here and another there.
 */
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  JSONRPCMessageSchema,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { PortcullisError } from '../../errors.ts';

export type { JSONRPCErrorResponse, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId };
export { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse };

/** A response of either kind; the SDK's result and error response types share `id`. */
export type JsonRpcResponse = Extract<JSONRPCMessage, { id: RequestId }> & ({ result: unknown } | { error: unknown });

export function isResponse(m: JSONRPCMessage): m is JsonRpcResponse {
  return isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m);
}

export interface ParsedBody {
  messages: JSONRPCMessage[];
  /** the agent sent a JSON array (a batch, protocol 2025-03-26) */
  batch: boolean;
}

/** Parse a POST body; throws PortcullisError with a JSON-RPC code in details.rpcCode. */
export function parseMessages(text: string): ParsedBody {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new PortcullisError('invalid_argument', 'the request body is not JSON', { cause: error, details: { status: 400, rpcCode: ErrorCode.ParseError } });
  }
  const batch = Array.isArray(raw);
  const list = batch ? (raw as unknown[]) : [raw];
  if (list.length === 0) throw invalid('an empty batch');
  const messages: JSONRPCMessage[] = [];
  for (const item of list) {
    const parsed = JSONRPCMessageSchema.safeParse(item);
    if (!parsed.success) throw invalid('a message that is not JSON-RPC 2.0 as MCP defines it');
    // the raw value, not the schema's output: unknown members (e.g. _meta extensions) must survive
    messages.push(item as JSONRPCMessage);
  }
  return { messages, batch };
}

function invalid(what: string): PortcullisError {
  return new PortcullisError('invalid_argument', `the request body is ${what}`, { details: { status: 400, rpcCode: ErrorCode.InvalidRequest } });
}

/** A map key for a request id: 1 and "1" are different requests. */
export function idKey(id: RequestId): string {
  return typeof id === 'number' ? `n:${id}` : `s:${id}`;
}
