/**
 * One request to a `type: kubernetes` target. Attributes come from the path as the API server derives
 * them; every response body that may hold a Secret is masked, watch streams event by event. The
 * agent's Accept is narrowed to JSON: protobuf cannot be masked, and kubectl falls back to JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PortcullisError } from '../../errors.ts';
import type { Decision } from '../../engine/decision.ts';
import { normalisePath } from '../../requests/http.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Admitted } from '../../http-transport/front.ts';
import { forward } from '../../http-transport/forward.ts';
import { maskTextLine } from '../../http-transport/masking/body.ts';
import { refusalOf, runExchange } from '../../exchange/index.ts';
import type { ExchangeState, ProxyEnv } from '../../http-transport/handler.ts';
import { sendLineMasked, sendMasked, sendUnmasked } from '../../http-transport/respond.ts';
import { sessionFor } from '../../http-transport/session.ts';
import { kubernetesRequestOf } from './request.ts';
import { isDiscovery, requestAttributes, type ResourceAttributes } from './attributes.ts';
import { kubernetesMasking } from './masking.ts';
import { checkedBody } from './body-namespace.ts';
import { reasonFromHeaders } from '../../gateway/stated-reason.ts';

/** JSON, never protobuf; Table requests (kubectl get) are JSON too and keep their parameters. */
export function jsonAccept(accept: string | undefined): string {
  const kept = (accept ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && /^application\/json\b|^\*\/\*/.test(s));
  return kept.length > 0 ? kept.join(', ') : 'application/json';
}

/** Derive, then run through the exchange core; throws the refusal. Shared with the upgrade path (exec, attach). */
export async function decideKubernetes(
  ctx: ListenerContext,
  socket: Socket,
  admitted: Admitted,
  method: string,
  userAgent: string,
  state: ExchangeState,
  /** the request whose body a write carries (not for upgrades) */
  req?: IncomingMessage,
  /** why the agent says it needs this (a Portcullis-Reason header) */
  statedReason?: string,
): Promise<{ attrs: ResourceAttributes | undefined; decision: Decision | undefined; path: string; body?: Buffer }> {
  const path = normalisePath(admitted.rest);
  const attrs = requestAttributes(method, path, new URLSearchParams(admitted.search));
  if (attrs.kind === 'non-resource') {
    if (isDiscovery(attrs)) return { attrs: undefined, decision: undefined, path };
    throw new PortcullisError('permission_denied', `the non-resource URL ${path} is not served through the gateway`, {
      details: { hint: 'only API resources (/api/..., /apis/...) and discovery documents are proxied' },
    });
  }
  // a write's object must name the URL's namespace (or none), as the API server demands
  const body = req ? await checkedBody(req, attrs, admitted.upstream.maxBodyBytes, admitted.upstream.name) : undefined;
  const { bundle, subject } = admitted;
  const request = kubernetesRequestOf(attrs, subject, admitted.upstream.name, ctx.now().toISOString());
  const run = runExchange(ctx, {
    bundle,
    request,
    session: () => sessionFor(ctx, socket, bundle, subject, request, { 'user-agent': userAgent }),
    refusal: refusalOf,
    ...(statedReason ? { reason: statedReason } : {}),
  });
  // the fast path (no review, nothing to wait for) comes back without a promise: no await for it
  const result = run instanceof Promise ? await run : run;
  if (!result.allowed) {
    if (result.recorded) state.exchange = result.recorded;
    throw result.error;
  }
  const decision = result.decision;
  state.exchange = { sessionId: result.evidence.sessionId, seq: await result.evidence.written, target: result.evidence.target };
  return { attrs, decision, path, ...(body ? { body } : {}) };
}

export async function proxyKubernetes(ctx: ListenerContext, env: ProxyEnv, req: IncomingMessage, res: ServerResponse, admitted: Admitted, state: ExchangeState): Promise<void> {
  const { upstream } = admitted;
  const method = (req.method ?? 'GET').toUpperCase();
  const { attrs, decision, path, body } = await decideKubernetes(ctx, req.socket as Socket, admitted, method, String(req.headers['user-agent'] ?? ''), state, req, reasonFromHeaders(req.headers));
  const masking = kubernetesMasking(decision?.masks ?? [], env.maskKey);
  const active = masking.active;
  const query = new URLSearchParams(admitted.search);
  const isLog = attrs?.subresource === 'log';
  const streaming = attrs?.verb === 'watch' || (isLog && ['true', '1'].includes(query.get('follow') ?? ''));
  const accept = isLog ? undefined : jsonAccept(req.headers.accept);
  const upstreamRes = await forward({
    dispatchers: env.dispatchers,
    upstream,
    req,
    path,
    search: admitted.search,
    forMasking: active,
    ...(body ? { body } : {}),
    ...(streaming ? { bodyTimeoutMs: 0 } : {}),
    ...(accept ? { accept } : {}),
  });
  if (!active) {
    await sendUnmasked(res, upstreamRes, upstream, method);
    return;
  }
  const policy = masking.policy(upstream, { secretsRequest: attrs?.resource === 'secrets', isLog });
  if (streaming && upstreamRes.statusCode === 200) {
    const stats = await sendLineMasked(res, upstreamRes, upstream, (line) => maskTextLine(line, policy, !isLog), upstream.maxBodyBytes);
    state.maskedValues = stats.masked;
    return;
  }
  state.maskedValues = await sendMasked(res, upstreamRes, upstream, method, policy);
}
