/**
 * The namespace of the object in a write's body against the namespace in its URL. Policy decides on
 * the URL's namespace; an object that names another one would otherwise go where no rule looked
 * (a lenient server, an aggregated API, a webhook that trusts the body). The API server itself
 * refuses such a request with 400 BadRequest ("the namespace of the provided object does not match
 * the namespace sent on the request"), and so does the gateway, before anything is forwarded.
 * The body read is the body forwarded.
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { PortcullisError } from '../../errors.ts';
import { mediaType } from '../../http-transport/headers.ts';
import { hasRequestBody, readRequestBody } from '../../http-transport/request-body.ts';
import type { ResourceAttributes } from './attributes.ts';

const WRITES = new Set(['create', 'update', 'patch']);
/** streams, not objects: their bodies (if any) carry no namespace */
const STREAMS = new Set(['exec', 'attach', 'portforward', 'proxy']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Undefined when the request has no body to check; else the body bytes, checked. */
export async function checkedBody(req: IncomingMessage, attrs: ResourceAttributes, limit: number, target: string): Promise<Buffer | undefined> {
  if (!WRITES.has(attrs.verb) || STREAMS.has(attrs.subresource ?? '') || !hasRequestBody(req)) return undefined;
  const body = await readRequestBody(req, limit, target);
  if (body.length === 0) return body;
  const type = mediaType(req.headers['content-type']);
  let value: unknown;
  try {
    if (type.includes('protobuf')) throw new Error('protobuf');
    value = type.endsWith('yaml') ? parseYaml(body.toString('utf8'), { maxAliasCount: 100 }) : JSON.parse(body.toString('utf8'));
  } catch {
    throw new PortcullisError('invalid_argument', `the ${attrs.verb} body (${type || 'untyped'}) cannot be read as JSON or YAML, so its namespace cannot be checked`, {
      details: { hint: 'send the object as JSON (kubectl does)' },
    });
  }
  for (const ns of bodyNamespaces(value)) {
    if (ns !== (attrs.namespace ?? '')) {
      throw new PortcullisError(
        'invalid_argument',
        `the namespace of the provided object (${JSON.stringify(ns)}) does not match the namespace sent on the request (${JSON.stringify(attrs.namespace ?? '')})`,
        {
          details: { hint: "send the request to the object's own namespace, or leave metadata.namespace out" },
        },
      );
    }
  }
  return body;
}

/** metadata.namespace of an object or merge patch; the values a JSON patch sets it to. */
function bodyNamespaces(value: unknown): string[] {
  if (Array.isArray(value)) {
    const out: string[] = [];
    for (const op of value) {
      if (!isObj(op) || typeof op.path !== 'string') continue;
      if (op.path === '/metadata/namespace') out.push(String(op.value ?? ''));
      else if (op.path === '/metadata' && isObj(op.value) && op.value.namespace !== undefined) out.push(String(op.value.namespace));
      else if (op.path === '' || op.path === '/') out.push(...bodyNamespaces(op.value));
    }
    return out;
  }
  if (!isObj(value) || !isObj(value.metadata)) return [];
  const ns = value.metadata.namespace;
  return ns === undefined || ns === null || ns === '' ? [] : [String(ns)];
}
