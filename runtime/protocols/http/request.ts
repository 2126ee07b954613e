/**
 * The engine request of one HTTP exchange, built from the wire. The request the engine sees and the
 * request the upstream receives come from the same normalised path and parsed query, so there is no
 * spelling that policy reads one way and the upstream another. A form may carry `_method`: it is read
 * before deciding, and the bytes read are the bytes sent; the override is applied, not forwarded.
 */
import type { IncomingMessage } from 'node:http';
import type { HttpRequest } from '../../engine/request.ts';
import { canonical, CanonicalFragment } from '../../encoding/canonical.ts';
import { normalisePath, parseQuery } from '../../requests/http.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Admitted } from '../../http-transport/front.ts';
import { mediaType } from '../../http-transport/headers.ts';
import { formMethodsOf, overrideOf, withoutMethodParameter } from './method-override.ts';
import { hasRequestBody, readRequestBody } from '../../http-transport/request-body.ts';

const NO_QUERY: Readonly<Record<string, readonly string[]>> = Object.freeze({});

export interface BuiltHttpRequest {
  request: HttpRequest;
  /** the method on the wire; `method` is what policy decides (after any override) */
  wireMethod: string;
  method: string;
  overridden: boolean;
  path: string;
  /** the query as forwarded (without `_method`) */
  search: string;
  /** a body already read (a form, for its `_method`), forwarded as read */
  body?: Buffer;
}

export function httpRequestOf(ctx: ListenerContext, req: IncomingMessage, admitted: Admitted): BuiltHttpRequest | Promise<BuiltHttpRequest> {
  const { upstream } = admitted;
  const wireMethod = (req.method ?? 'GET').toUpperCase();
  const path = normalisePath(admitted.rest, upstream.paths);
  const type = mediaType(req.headers['content-type']);
  if (wireMethod === 'POST' && (type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') && hasRequestBody(req)) {
    return readRequestBody(req, upstream.maxBodyBytes, upstream.name).then((body) => built(ctx, admitted, req, wireMethod, path, type, body));
  }
  return built(ctx, admitted, req, wireMethod, path, type, undefined);
}

function built(ctx: ListenerContext, admitted: Admitted, req: IncomingMessage, wireMethod: string, path: string, type: string, read: Buffer | undefined): BuiltHttpRequest {
  const { subject, upstream } = admitted;
  let body = read;
  // most requests have no query: one shared empty (frozen) object instead of a parse
  const wireQuery = admitted.search === '' ? NO_QUERY : parseQuery(admitted.search);
  const override = overrideOf(wireMethod, req.headers, wireQuery, body ? formMethodsOf(type, body) : []);
  const method = override.method;
  const search = withoutMethodParameter(admitted.search);
  if (body && type === 'application/x-www-form-urlencoded' && override.overridden) body = withoutFormMethod(body);
  const request: HttpRequest = {
    protocol: 'http',
    subject: { identity: subject.identity, groups: [...subject.groups] },
    target: upstream.name,
    at: ctx.now().toISOString(),
    method,
    path,
    // the common query has no `_method`: parsed once
    query: search === admitted.search ? wireQuery : parseQuery(search),
  };
  return { request, wireMethod, method, overridden: Boolean(override.overridden), path, search, ...(body ? { body } : {}) };
}

function withoutFormMethod(body: Buffer): Buffer {
  const params = new URLSearchParams(body.toString('utf8'));
  for (const k of [...params.keys()]) if (k === '_method' || k.startsWith('_method[')) params.delete(k);
  return Buffer.from(params.toString(), 'utf8');
}

/**
 * canonical(request) for a request as httpRequestOf builds it (no body, no headers), written out in
 * its sorted key order: the record of every allowed request holds it, and the generic encoder's key
 * sorting and type dispatch were a measurable share of a small proxied request.
 */
export function encodedHttpRequest(r: HttpRequest): CanonicalFragment {
  const s = r.subject;
  return CanonicalFragment.ofCanonical(
    `{"at":${JSON.stringify(r.at)},"method":${JSON.stringify(r.method)},"path":${JSON.stringify(r.path)},"protocol":"http","query":${canonical(r.query)},"subject":{"groups":${JSON.stringify(s.groups)},"identity":${JSON.stringify(s.identity)}},"target":${JSON.stringify(r.target)}}`,
  );
}
