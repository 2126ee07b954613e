/**
 * Request attributes derived exactly as the API server's RequestInfoFactory does
 * (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so a policy about `pods/exec` or `list
 * secrets` means what the cluster's own RBAC would mean by it.
 */
import { PortcullisError } from '../../errors.ts';
import type { KubernetesRequest } from '../../engine/request.ts';

/** The engine's Kubernetes request attributes, before subject, target and time are added. */
export type ResourceAttributes = { kind: 'resource' } & Omit<KubernetesRequest, 'protocol' | 'subject' | 'target' | 'at'>;

export interface NonResourceAttributes {
  kind: 'non-resource';
  verb: string;
  path: string;
}

export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** `path` is the normalised path below the gateway's target prefix (e.g. `/api/v1/pods`). */
export function requestAttributes(method: string, path: string, query: URLSearchParams): RequestAttributes {
  const m = method.toUpperCase();
  let parts = path.split('/').filter((p) => p !== '');
  const nonResource: NonResourceAttributes = { kind: 'non-resource', verb: m.toLowerCase(), path };
  if (parts.length < 3) return nonResource;
  const prefix = parts[0]!;
  if (prefix !== 'api' && prefix !== 'apis') return nonResource;
  parts = parts.slice(1);
  let apiGroup = '';
  if (prefix === 'apis') {
    if (parts.length < 3) return nonResource;
    apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  const apiVersion = parts[0]!;
  parts = parts.slice(1);

  let verb: string;
  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) {
      throw new PortcullisError('invalid_argument', `unable to determine kind and namespace from url ${path}`);
    }
    verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    verb = ({ POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[m] ?? '';
  }

  let namespace: string | undefined;
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      namespace = parts[1];
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }

  let resource = '';
  let name: string | undefined;
  let subresource: string | undefined;
  if (parts.length >= 3 && verb !== 'proxy') subresource = parts[2];
  if (parts.length >= 2) name = parts[1];
  if (parts.length >= 1) resource = parts[0]!;

  if (!name && verb === 'get') {
    verb = isTrue(query.get('watch')) ? 'watch' : 'list';
    const byName = exactName(query.get('fieldSelector'));
    if (byName) name = byName;
  }
  if (!name && verb === 'delete') verb = 'deletecollection';

  return {
    kind: 'resource',
    verb,
    apiGroup,
    apiVersion,
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}

/** The API server decodes `watch` as a Go bool: 1, t, T, TRUE, true, True. */
function isTrue(v: string | null): boolean {
  return v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/** `metadata.name=foo` (or `==`) as the only requirement -> foo, as RequiresExactMatch does. */
function exactName(selector: string | null): string | undefined {
  if (!selector) return undefined;
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of terms) {
    const m = /^metadata\.name\s*==?\s*(.+)$/.exec(t);
    if (m && /^[^/%]+$/.test(m[1]!) && m[1] !== '.' && m[1] !== '..') return m[1];
  }
  return undefined;
}

/**
 * Discovery and OpenAPI documents describe the API, not its data; kubectl cannot work without them
 * and every authenticated user may read them in a default cluster (ClusterRole system:discovery).
 */
export function isDiscovery(attrs: NonResourceAttributes): boolean {
  if (attrs.verb !== 'get' && attrs.verb !== 'head') return false;
  const p = attrs.path;
  return (
    p === '/api' ||
    p === '/apis' ||
    p === '/version' ||
    /^\/api\/v\d[\w]*$/.test(p) ||
    /^\/apis\/[^/]+(\/[^/]+)?$/.test(p) ||
    p === '/openapi/v2' ||
    p === '/openapi/v3' ||
    p.startsWith('/openapi/v3/')
  );
}
