/**
 * Refusals as the agent's client understands them. The listener writes them for every target type;
 * what the body looks like is the target type's error format: an RFC 9457 problem document for plain
 * HTTP and MCP targets (the default), a Kubernetes `Status` for Kubernetes targets
 * (runtime/protocols/kubernetes/refusal.ts). What a refusal says (rules, policy commit) comes from the
 * exchange core (runtime/exchange/refusal.ts). Only a PortcullisError's own message goes over the
 * wire; its cause stays in the logs.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { PortcullisError, type ErrorCode } from '../errors.ts';

const statusOf: Record<ErrorCode, number> = {
  invalid_argument: 400,
  invalid_policy: 503,
  not_found: 404,
  unauthenticated: 401,
  permission_denied: 403,
  review_required: 403,
  failed_precondition: 503,
  resource_exhausted: 413,
  protocol_violation: 502,
  unavailable: 502,
  deadline_exceeded: 504,
  tampered: 503,
  internal: 500,
};

/** How a target type's client reads a refusal: the body's media type and the document in it. */
export interface ErrorFormat {
  contentType: string;
  document(error: PortcullisError): unknown;
}

/** The HTTP status for an error; `details.status` lets a caller pick a more precise one (e.g. 502 vs 413). */
export function statusFor(error: PortcullisError): number {
  const s = error.details.status;
  return typeof s === 'number' ? s : statusOf[error.code];
}

/** Extension members carried over the wire; anything else in details (hints aside) stays private. */
const PUBLIC_DETAILS = ['rules', 'revision', 'approval', 'hint', 'limit'] as const;

export function problemDocument(error: PortcullisError): Record<string, unknown> {
  const status = statusFor(error);
  const doc: Record<string, unknown> = {
    type: `https://portcullis.dev/problems/${error.code.replaceAll('_', '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: error.message,
    code: error.code,
  };
  for (const key of PUBLIC_DETAILS) if (error.details[key] !== undefined) doc[key] = error.details[key];
  return doc;
}

/** RFC 9457: what any HTTP client can read, and what a caller whose target is not known yet gets. */
export const problemFormat: ErrorFormat = { contentType: 'application/problem+json', document: problemDocument };

function headersFor(error: PortcullisError, format: ErrorFormat, body: Buffer): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': format.contentType,
    'content-length': String(body.length),
    'cache-control': 'no-store',
  };
  // a pending approval: the agent is told when asking again may find it decided
  if (typeof error.details.retryAfter === 'number') headers['retry-after'] = String(error.details.retryAfter);
  if (error.code === 'unauthenticated') {
    headers['www-authenticate'] = error.details.tokenPresented ? 'Bearer realm="portcullis", error="invalid_token"' : 'Bearer realm="portcullis"';
  }
  return headers;
}

function bodyFor(error: PortcullisError, format: ErrorFormat): Buffer {
  return Buffer.from(JSON.stringify(format.document(error)));
}

/** Send a refusal; when the response has already started there is nothing to say, so it is cut. */
export function sendError(res: ServerResponse, err: unknown, format: ErrorFormat): number {
  const error = PortcullisError.from(err);
  const status = statusFor(error);
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  const body = bodyFor(error, format);
  res.writeHead(status, headersFor(error, format, body));
  res.end(body);
  return status;
}

/** The same refusal written on a raw socket (an upgrade request that is not let through). */
export function writeSocketError(socket: Duplex, err: unknown, format: ErrorFormat): number {
  const error = PortcullisError.from(err);
  const status = statusFor(error);
  const body = bodyFor(error, format);
  const headers = { ...headersFor(error, format, body), connection: 'close' };
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  return status;
}
