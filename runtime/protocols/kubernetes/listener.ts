/**
 * The Kubernetes adapter as the one HTTP listener (runtime/http-transport/listener.ts) sees it: API
 * requests (proxy.ts), exec/attach/portforward upgrades (upgrade.ts), and refusals as Status objects.
 */
import type { TargetHandlerFactory } from '../../http-transport/handler.ts';
import { proxyKubernetes } from './proxy.ts';
import { kubernetesFormat } from './refusal.ts';
import { proxyUpgrade } from './upgrade.ts';

export const kubernetesHandler: TargetHandlerFactory = (ctx, env) => ({
  errorFormat: kubernetesFormat,
  request: (req, res, admitted, state) => proxyKubernetes(ctx, env, req, res, admitted, state),
  upgrade: (req, socket, head, admitted, state) => proxyUpgrade(ctx, req, socket, head, admitted, state),
});
