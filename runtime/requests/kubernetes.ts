/**
 * `delete pods web-1 -n shop` -> a Kubernetes request, in kubectl's own words, for the CLI and
 * policy tests. The gateway derives the same attributes from real API paths (runtime/protocols/kubernetes).
 */
import { PortcullisError } from '../errors.ts';
import type { KubernetesRequest, Subject } from '../engine/request.ts';
import { KubernetesVerbs } from '../bundle/vocabulary.ts';

export function kubernetesRequestFromLine(line: string, subject: Subject, target: string, at: string): KubernetesRequest {
  const words = line.trim().split(/\s+/);
  let namespace: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-n' || w === '--namespace') namespace = words[++i];
    else if (w.startsWith('--namespace=')) namespace = w.slice('--namespace='.length);
    else rest.push(w);
  }
  const [verb, resourceWord, name] = rest;
  if (!verb || !resourceWord || rest.length > 3 || !(KubernetesVerbs as readonly string[]).includes(verb)) {
    throw new PortcullisError('invalid_argument', `cannot read Kubernetes request ${JSON.stringify(line)}`, {
      details: { hint: `write it as 'VERB RESOURCE[/SUBRESOURCE] [NAME] [-n NAMESPACE]' with VERB one of ${KubernetesVerbs.join(', ')}` },
    });
  }
  const [resourceAndGroup, subresource] = resourceWord.split('/') as [string, string | undefined];
  const dot = resourceAndGroup.indexOf('.');
  const resource = dot >= 0 ? resourceAndGroup.slice(0, dot) : resourceAndGroup;
  const apiGroup = dot >= 0 ? resourceAndGroup.slice(dot + 1) : '';
  return {
    protocol: 'kubernetes',
    subject,
    target,
    at,
    verb,
    apiGroup,
    apiVersion: apiGroup === '' ? 'v1' : '',
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}
