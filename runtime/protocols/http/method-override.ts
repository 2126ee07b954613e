/**
 * Method override. Many frameworks let a POST stand for another method: the X-HTTP-Method-Override,
 * X-HTTP-Method and X-Method-Override headers (Express's method-override, ASP.NET, Google APIs),
 * and a `_method` parameter in the query or in a form body (Rails, Laravel, Symfony). A deny rule on
 * DELETE would otherwise be passed by a POST the upstream turns into a DELETE, and the evidence
 * would say POST.
 *
 * So the request is decided as the method it asks for, and sent upstream as exactly that method
 * with the override removed: what policy decided and what the upstream does are the same request.
 * Overrides that disagree, or name something that is not a method, are refused.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { PortcullisError } from '../../errors.ts';
import { OVERRIDE_HEADERS } from '../../http-transport/headers.ts';

const METHOD = /^[A-Za-z]{1,20}$/;

export interface MethodOverride {
  /** the method the request is decided as and sent with */
  method: string;
  /** the method on the wire, when an override changed it */
  overridden?: string;
}

/** The override values a request carries in its headers and query (`_method`, canonicalised). */
export function overrideOf(wireMethod: string, headers: IncomingHttpHeaders, query: Readonly<Record<string, readonly string[]>>, formMethods: readonly string[] = []): MethodOverride {
  const asked: string[] = [];
  for (const name of OVERRIDE_HEADERS) {
    const v = headers[name];
    if (v === undefined) continue;
    for (const part of (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(','))) asked.push(part.trim());
  }
  for (const [k, vs] of Object.entries(query)) if (k === '_method' || k.startsWith('_method[')) asked.push(...vs);
  asked.push(...formMethods);
  if (asked.length === 0) return { method: wireMethod };
  const methods = new Set(asked.map((m) => m.toUpperCase()));
  const [method] = methods;
  if (methods.size !== 1 || method === undefined || !METHOD.test(method)) {
    throw new PortcullisError(
      'invalid_argument',
      `the request asks for method ${[...methods].map((m) => JSON.stringify(m.slice(0, 20))).join(' and ')} through a method override, which is ambiguous, so it is refused`,
      {
        details: { hint: 'send the method you mean as the request method, without X-HTTP-Method-Override or _method' },
      },
    );
  }
  return method === wireMethod ? { method } : { method, overridden: wireMethod };
}

/** The query string without `_method` parameters (the override is applied, not forwarded). */
export function withoutMethodParameter(search: string): string {
  if (search === '') return search;
  // keys are compared decoded: `%5Fmethod` is `_method` to every framework
  const params = new URLSearchParams(search);
  const keys = [...params.keys()].filter((k) => k === '_method' || k.startsWith('_method['));
  if (keys.length === 0) return search;
  for (const k of keys) params.delete(k);
  return params.toString();
}

/** `_method` in a form body: urlencoded fields, or a multipart part of that name. */
export function formMethodsOf(contentType: string, body: Buffer): string[] {
  if (contentType === 'application/x-www-form-urlencoded') {
    const out: string[] = [];
    for (const [k, v] of new URLSearchParams(body.toString('latin1'))) if (k === '_method' || k.startsWith('_method[')) out.push(v);
    return out;
  }
  if (contentType === 'multipart/form-data' && /name\s*=\s*"?_method/i.test(body.toString('latin1'))) {
    // the part's value is not worth parsing: a form that overrides its method this way is refused
    return ['(in a multipart form)'];
  }
  return [];
}
