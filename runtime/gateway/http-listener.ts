/**
 * The HTTP listener with the adapters it routes to: HTTP, Kubernetes and MCP targets all arrive on
 * it. The listener (runtime/http-transport) knows none of the protocols and the protocol folders
 * know none of each other, so they meet here, beside the composition root (start.ts).
 */
import type { ListenerContext } from '../http-transport/context.ts';
import type { TargetHandlers } from '../http-transport/handler.ts';
import { startHttpListener, type HttpGateway, type HttpGatewayOptions } from '../http-transport/listener.ts';
import { httpHandler } from '../protocols/http/listener.ts';
import { kubernetesHandler } from '../protocols/kubernetes/listener.ts';
import { mcpHandler } from '../protocols/mcp/listener.ts';

export type { HttpGateway, HttpGatewayOptions };

/** The target types the HTTP listener serves, each by its protocol's adapter. */
export const httpTargetHandlers: TargetHandlers = { http: httpHandler, kubernetes: kubernetesHandler, mcp: mcpHandler };

export function startHttpGateway(ctx: ListenerContext, opts: HttpGatewayOptions = {}): Promise<HttpGateway> {
  return startHttpListener(ctx, httpTargetHandlers, opts);
}
