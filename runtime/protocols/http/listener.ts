/**
 * The HTTP adapter as the one HTTP listener (runtime/http-transport/listener.ts) sees it: plain HTTP
 * targets are reverse-proxied with policy on method, path and query (proxy.ts), and refused with
 * RFC 9457 problem documents, the listener's default.
 */
import type { TargetHandlerFactory } from '../../http-transport/handler.ts';
import { proxyHttp } from './proxy.ts';

export const httpHandler: TargetHandlerFactory = (ctx, env) => ({
  request: (req, res, admitted, state) => proxyHttp(ctx, env, req, res, admitted, state),
});
