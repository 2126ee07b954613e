/**
 * Which JSON-RPC requests policy decides, and as what. The engine's MCP actions are the six of
 * `McpMethods`; a few more protocol methods reach the same data and are decided as the action they
 * amount to (subscribing to a resource is reading it; completing a prompt's argument is asking for
 * the prompt). Lifecycle methods pass. Anything else is decided under its own name, which no rule
 * can name, so it is refused by default: a new protocol method is never let through unexamined.
 */
import { CallToolRequestSchema, CompleteRequestSchema, GetPromptRequestSchema, ReadResourceRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { McpRequest, Subject } from '../../engine/request.ts';
import { PortcullisError } from '../../errors.ts';
import type { JSONRPCRequest } from './jsonrpc.ts';

/** Lifecycle and housekeeping: no data flows, nothing to decide. */
const PASSING = new Set(['initialize', 'ping', 'logging/setLevel']);

export type Planned = { kind: 'pass' } | { kind: 'decide'; request: McpRequest };

export interface RequestContext {
  subject: Subject;
  target: string;
  at: string;
}

function badParams(method: string): PortcullisError {
  return new PortcullisError('invalid_argument', `the params of ${method} do not match the MCP schema`, { details: { status: 400 } });
}

export function planRequest(msg: JSONRPCRequest, c: RequestContext): Planned {
  const method = msg.method;
  if (PASSING.has(method)) return { kind: 'pass' };
  const base = { protocol: 'mcp' as const, subject: { identity: c.subject.identity, groups: [...c.subject.groups] }, target: c.target, at: c.at };
  const decideAs = (action: string, name?: string, args?: unknown): Planned => ({
    kind: 'decide',
    request: { ...base, method: action, ...(name !== undefined ? { name } : {}), ...(args !== undefined ? { arguments: args } : {}) },
  });
  switch (method) {
    case 'tools/call': {
      if (!CallToolRequestSchema.safeParse(msg).success) throw badParams(method);
      const p = msg.params as { name: string; arguments?: unknown };
      return decideAs(method, p.name, p.arguments);
    }
    case 'resources/read': {
      if (!ReadResourceRequestSchema.safeParse(msg).success) throw badParams(method);
      return decideAs(method, (msg.params as { uri: string }).uri);
    }
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const schema = method === 'resources/subscribe' ? SubscribeRequestSchema : UnsubscribeRequestSchema;
      if (!schema.safeParse(msg).success) throw badParams(method);
      return decideAs('resources/read', (msg.params as { uri: string }).uri);
    }
    case 'prompts/get': {
      if (!GetPromptRequestSchema.safeParse(msg).success) throw badParams(method);
      const p = msg.params as { name: string; arguments?: unknown };
      return decideAs(method, p.name, p.arguments);
    }
    case 'completion/complete': {
      if (!CompleteRequestSchema.safeParse(msg).success) throw badParams(method);
      const ref = (msg.params as { ref: { type: string; name?: string; uri?: string } }).ref;
      return ref.type === 'ref/prompt' ? decideAs('prompts/get', ref.name) : decideAs('resources/read', ref.uri);
    }
    case 'tools/list':
    case 'resources/list':
    case 'prompts/list':
      return decideAs(method);
    case 'resources/templates/list':
      return decideAs('resources/list');
    default:
      return decideAs(method);
  }
}
