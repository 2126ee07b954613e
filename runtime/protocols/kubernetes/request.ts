/** The engine request of one Kubernetes API call, from the attributes the API server would derive. */
import type { KubernetesRequest } from '../../engine/request.ts';
import type { ListenerSubject } from '../../http-transport/context.ts';
import type { ResourceAttributes } from './attributes.ts';

export function kubernetesRequestOf(attrs: ResourceAttributes, subject: ListenerSubject, target: string, at: string): KubernetesRequest {
  return {
    protocol: 'kubernetes',
    subject: { identity: subject.identity, groups: [...subject.groups] },
    target,
    at,
    verb: attrs.verb,
    apiGroup: attrs.apiGroup,
    apiVersion: attrs.apiVersion,
    resource: attrs.resource,
    ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
    ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
    ...(attrs.name ? { name: attrs.name } : {}),
  };
}
