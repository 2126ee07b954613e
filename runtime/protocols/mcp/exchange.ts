/**
 * One JSON-RPC request's way through the gateway: planned, then run through the exchange core
 * (decided, reviewed, checked, recorded durably before the server sees it), refused or forwarded; and its response's way back: matched to the request by id,
 * filtered (listings), masked (results and errors), and recorded. A response that matches no
 * request the gateway forwarded is dropped, so a server cannot push an unmasked "answer".
 */
import { randomUUID } from 'node:crypto';
import type { Bundle } from '../../bundle/model.ts';
import { judgeUnrecorded, refusalOf, runExchange } from '../../exchange/index.ts';
import type { Mask } from '../../engine/decision.ts';
import type { McpRequest } from '../../engine/request.ts';
import { PortcullisError } from '../../errors.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Dispatchers } from '../../http-transport/upstream.ts';
import { errorResponse } from './refusal.ts';
import { idKey, isJSONRPCErrorResponse, isJSONRPCRequest, type JSONRPCErrorResponse, type JSONRPCMessage, type JSONRPCRequest, type JsonRpcResponse } from './jsonrpc.ts';
import { mcpMasker } from './masking.ts';
import { widenOutputSchema } from './output-schema.ts';
import { gateResources } from './embedded.ts';
import type { ToolDefinition } from './pinning.ts';
import { planRequest } from './request.ts';
import { sqlArgumentsOf, sqlRefusal, sqlRequestsOf } from './sql.ts';
import { MAX_PENDING, type McpSession, type McpSessions, type RecordedExchange } from './session.ts';
import type { McpTarget } from './target.ts';
import { ask } from './upstream.ts';
import { listings, mayUse, type Visibility } from './visibility.ts';
import { reasonFromMeta } from '../../gateway/stated-reason.ts';

export interface ExchangeEnv {
  ctx: ListenerContext;
  dispatchers: Dispatchers;
  maskKey: Buffer;
  sessions: McpSessions;
}

/** A listing can be paged; a server that never stops paging is not waited for. */
const MAX_PAGES = 50;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function revisionKey(bundle: Bundle): string {
  return bundle.revision.commit ?? bundle.revision.digest;
}

function classificationMasks(bundle: Bundle, target: string): readonly Mask[] {
  return bundle.index.targets.get(target)?.classificationMasks ?? [];
}

/** Undefined: forward it. Otherwise the answer the agent gets instead. */
export async function admitRequest(env: ExchangeEnv, session: McpSession, bundle: Bundle, target: McpTarget, msg: JSONRPCRequest): Promise<JSONRPCErrorResponse | undefined> {
  const key = idKey(msg.id);
  const started = performance.now();
  if (session.pending.has(key)) {
    return errorResponse(msg.id, new PortcullisError('invalid_argument', `request id ${JSON.stringify(msg.id)} is already in use by a request awaiting its answer`));
  }
  if (session.pending.size >= MAX_PENDING) {
    return errorResponse(msg.id, new PortcullisError('resource_exhausted', `the session has ${MAX_PENDING} requests awaiting answers, the most the gateway tracks`));
  }
  const at = env.ctx.now().toISOString();
  const revision = revisionKey(bundle);
  let planned;
  try {
    planned = planRequest(msg, { subject: session.subject, target: target.name, at });
  } catch (error) {
    return errorResponse(msg.id, error);
  }
  if (planned.kind === 'pass') {
    if (msg.method === 'initialize') noteClient(session, msg);
    session.pending.set(key, { method: msg.method, started, masker: mcpMasker(classificationMasks(bundle, target.name), env.maskKey, target.name), revision });
    return undefined;
  }
  const request = planned.request;
  let statements: RecordedExchange[] | undefined;
  const reason = reasonFromMeta(msg.params);
  const run = runExchange(env.ctx, {
    bundle,
    request,
    session: () => env.sessions.sessionFor(session, bundle),
    refusal: refusalOf,
    started,
    ...(reason ? { reason } : {}),
    // A call goes ahead only if the SQL it carries is allowed and the tool is still what was pinned.
    ...(msg.method === 'tools/call'
      ? {
          check: async () => {
            const checked = await checkSql(env, session, bundle, target, request, started);
            if (checked instanceof PortcullisError) return checked;
            statements = checked;
            return request.name === undefined ? undefined : checkDefinition(env, session, target, revision, request.name);
          },
        }
      : {}),
  });
  // the fast path (no review, nothing to wait for) comes back without a promise: no await for it
  const result = run instanceof Promise ? await run : run;
  if (!result.allowed) {
    const outcome = { durationMs: elapsed(started), maskedValues: 0, error: { code: result.error.code, message: result.error.message } };
    await env.sessions.recordResult(result.recorded, outcome);
    for (const e of statements ?? []) await env.sessions.recordResult(e, outcome);
    return errorResponse(msg.id, result.error);
  }
  let exchange: RecordedExchange;
  try {
    exchange = { sessionId: result.evidence.sessionId, seq: await result.evidence.written, target: result.evidence.target };
  } catch (error) {
    const e = PortcullisError.from(error);
    for (const st of statements ?? []) await env.sessions.recordResult(st, { durationMs: elapsed(started), maskedValues: 0, error: { code: e.code, message: e.message } });
    return errorResponse(msg.id, e);
  }
  const listing = listings[msg.method];
  const visibility: Visibility | undefined = listing ? { bundle, subject: session.subject, target: target.name, at } : undefined;
  session.pending.set(key, {
    method: msg.method,
    started,
    masker: mcpMasker(result.masks, env.maskKey, target.name),
    revision,
    exchange,
    ...(visibility ? { visibility } : {}),
    ...(statements && statements.length > 0 ? { statements } : {}),
    ...(msg.method === 'tools/call' || msg.method === 'prompts/get' ? { resources: { bundle, subject: session.subject, target: target.name, at, maskKey: env.maskKey } } : {}),
  });
  return undefined;
}

/**
 * SQL in a tool's arguments, decided as the PostgreSQL gateway would (runtime/protocols/mcp/sql.ts). Each
 * statement is an exchange of its own (decided, reviewed, checked, recorded) before the call is;
 * the first refusal refuses the call.
 */
async function checkSql(env: ExchangeEnv, session: McpSession, bundle: Bundle, target: McpTarget, call: McpRequest, started: number): Promise<RecordedExchange[] | PortcullisError> {
  const configs = sqlArgumentsOf(bundle, target.name);
  if (configs.length === 0) return [];
  let requests;
  try {
    requests = sqlRequestsOf(call, configs);
  } catch (error) {
    return PortcullisError.from(error, 'invalid_argument');
  }
  const recorded: RecordedExchange[] = [];
  for (const request of requests) {
    const result = await runExchange(env.ctx, {
      bundle,
      request,
      session: () => env.sessions.sessionFor(session, bundle),
      refusal: refusalOf,
      check: (decision) => sqlRefusal(request, decision),
      checkName: 'masking',
    });
    let refusal: PortcullisError | undefined;
    if (!result.allowed) {
      refusal = result.error;
      if (result.recorded) recorded.push(result.recorded);
    } else {
      try {
        recorded.push({ sessionId: result.evidence.sessionId, seq: await result.evidence.written, target: result.evidence.target });
      } catch (error) {
        refusal = PortcullisError.from(error);
      }
    }
    if (refusal) {
      const outcome = { durationMs: elapsed(started), maskedValues: 0, error: { code: refusal.code, message: refusal.message } };
      for (const e of recorded) await env.sessions.recordResult(e, outcome);
      return refusal;
    }
  }
  return recorded;
}

function noteClient(session: McpSession, msg: JSONRPCRequest): void {
  const p = msg.params as { clientInfo?: { name?: unknown; version?: unknown }; protocolVersion?: unknown } | undefined;
  if (typeof p?.clientInfo?.name === 'string') session.attributes['client-name'] = p.clientInfo.name.slice(0, 200);
  if (typeof p?.clientInfo?.version === 'string') session.attributes['client-version'] = p.clientInfo.version.slice(0, 100);
}

/**
 * The tool's definition as the server offers it right now, in this session, against its pin. Asked
 * on every call: a server that changed a description but did not announce it must not get away
 * with it just because the agent did not list tools again.
 */
async function checkDefinition(env: ExchangeEnv, session: McpSession, target: McpTarget, revision: string, name: string): Promise<PortcullisError | undefined> {
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_PAGES; page++) {
      const request: JSONRPCMessage = { jsonrpc: '2.0', id: `portcullis-${randomUUID()}`, method: 'tools/list', ...(cursor !== undefined ? { params: { cursor } } : {}) };
      const answer = await ask(env.dispatchers, target, session.headers(), request);
      if (isJSONRPCErrorResponse(answer) || !('result' in answer) || !isObj(answer.result) || !Array.isArray(answer.result.tools)) {
        return new PortcullisError('failed_precondition', `target ${target.name} did not list its tools, so the definition of tool ${JSON.stringify(name)} cannot be checked`, {
          details: { tool: name },
        });
      }
      const tool = answer.result.tools.find((t): t is ToolDefinition => isObj(t) && t.name === name);
      if (tool) return session.pins.check(target, revision, tool);
      cursor = typeof answer.result.nextCursor === 'string' ? answer.result.nextCursor : undefined;
      if (cursor === undefined) break;
    }
  } catch (error) {
    return PortcullisError.from(error, 'unavailable', `target ${target.name} could not be asked for its tools`);
  }
  return new PortcullisError('failed_precondition', `tool ${JSON.stringify(name)} is not among the tools target ${target.name} lists, so its definition cannot be checked`, {
    details: { tool: name },
  });
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

/** A response from the server on its way to the agent; undefined when it must be dropped. */
export async function completeResponse(env: ExchangeEnv, session: McpSession, target: McpTarget, msg: JsonRpcResponse): Promise<JSONRPCMessage | undefined> {
  const key = idKey(msg.id);
  const p = session.pending.get(key);
  if (!p) {
    env.ctx.log('mcp.unmatched-response', { target: target.name, id: String(msg.id) });
    return undefined;
  }
  session.pending.delete(key);
  const outcome = async (maskedValues: number, error?: { code: string; message: string }) => {
    const o = { durationMs: elapsed(p.started), maskedValues, ...(error ? { error } : {}) };
    await env.sessions.recordResult(p.exchange, o);
    for (const e of p.statements ?? []) await env.sessions.recordResult(e, { ...o, maskedValues: 0 });
  };
  try {
    if (isJSONRPCErrorResponse(msg)) {
      const masked = p.masker.value(msg.error);
      const error = masked.value as { code: number; message: string };
      await outcome(masked.count, { code: `jsonrpc_${error.code}`, message: String(error.message).slice(0, 500) });
      return { ...msg, error: masked.value as JSONRPCErrorResponse['error'] };
    }
    const result = (msg as { result: unknown }).result;
    if (p.method === 'initialize' && isObj(result) && typeof result.protocolVersion === 'string') session.protocolVersion = result.protocolVersion;
    let value: unknown;
    let count = 0;
    if (p.visibility) value = filterListing(session, target, p.method, p.revision, p.visibility, result, env);
    else {
      let gated = 0;
      let shown = result;
      if (p.resources) ({ value: shown, count: gated } = gateResources(p.resources, p.method, result));
      ({ value, count } = p.masker.result(p.method, shown));
      count += gated;
    }
    const toolError = isObj(value) && value.isError === true;
    await outcome(count, toolError ? { code: 'tool_error', message: 'the tool reported an error' } : undefined);
    return { ...msg, result: value } as JSONRPCMessage;
  } catch (error) {
    const e = PortcullisError.from(error);
    if (e.code === 'internal') env.ctx.log('mcp.error', { message: e.message });
    await outcome(0, { code: e.code, message: e.message });
    return errorResponse(msg.id, e);
  }
}

function filterListing(session: McpSession, target: McpTarget, method: string, revision: string, v: Visibility, result: unknown, env: ExchangeEnv): unknown {
  const listing = listings[method]!;
  if (!isObj(result) || !Array.isArray(result[listing.key])) {
    throw new PortcullisError('protocol_violation', `target ${target.name} answered ${method} without a ${listing.key} list`);
  }
  result[listing.key] = (result[listing.key] as unknown[]).filter((item) => {
    if (!isObj(item) || typeof item[listing.id] !== 'string') return false;
    if (!mayUse(v, listing.action, item[listing.id] as string)) return false;
    if (method !== 'tools/list') return true;
    const refusal = session.pins.check(target, revision, item as unknown as ToolDefinition);
    if (refusal) env.ctx.log('mcp.tool-hidden', { target: target.name, tool: item.name, reason: refusal.message });
    return refusal === undefined;
  });
  if (method === 'tools/list') {
    result.tools = (result.tools as Obj[]).map((tool) => (tool.outputSchema === undefined ? tool : { ...tool, outputSchema: widenOutputSchema(tool.outputSchema, callMasks(v, tool.name as string)) }));
  }
  return result;
}

/** The masks a call of this tool would get (its rules' and the target's classifications). */
function callMasks(v: Visibility, name: string): readonly Mask[] {
  const request: McpRequest = { protocol: 'mcp', subject: { identity: v.subject.identity, groups: [...v.subject.groups] }, target: v.target, at: v.at, method: 'tools/call', name };
  return [...classificationMasks(v.bundle, v.target), ...judgeUnrecorded(v.bundle, request).masks];
}

/**
 * A request or notification the server sends the agent (progress, logs, sampling, elicitation).
 * No request of the agent's decided it, so the target's classifications mask it; one that cannot
 * be masked is dropped.
 */
export function serverMessage(env: ExchangeEnv, bundle: Bundle, target: McpTarget, msg: JSONRPCMessage): JSONRPCMessage | undefined {
  if (!('params' in msg) || msg.params === undefined) return msg;
  try {
    const masker = mcpMasker(classificationMasks(bundle, target.name), env.maskKey, target.name);
    const { value } = masker.value(structuredClone(msg.params));
    return { ...msg, params: value } as JSONRPCMessage;
  } catch (error) {
    env.ctx.log('mcp.server-message-dropped', { target: target.name, method: isJSONRPCRequest(msg) ? msg.method : (msg as { method?: string }).method, reason: String(error) });
    return undefined;
  }
}
