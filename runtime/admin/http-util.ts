/**
 * Small helpers of the admin server: JSON answers, bounded JSON bodies, and the mapping from a
 * PortcullisError to an HTTP status. Only `code`, `message` and `hint` go over the wire; a cause
 * stays in the logs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PortcullisError, type ErrorCode } from '../errors.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_argument: 400,
  invalid_policy: 400,
  not_found: 404,
  unauthenticated: 401,
  permission_denied: 403,
  review_required: 403,
  failed_precondition: 409,
  resource_exhausted: 413,
  protocol_violation: 400,
  unavailable: 503,
  deadline_exceeded: 504,
  tampered: 500,
  internal: 500,
};

const MAX_BODY = 64 * 1024;

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown, log: (event: string, fields?: Record<string, unknown>) => void): void {
  const e = PortcullisError.from(error);
  if (e.code === 'internal') log('admin.error', { message: e.message, cause: String((e.cause as Error | undefined)?.stack ?? e.cause ?? '') });
  const hint = typeof e.details.hint === 'string' ? e.details.hint : undefined;
  const message = e.code === 'internal' ? 'internal error; see the gateway log' : e.message;
  const headers: Record<string, string> = e.code === 'unauthenticated' ? { 'www-authenticate': 'Bearer realm="portcullis"' } : {};
  sendJson(res, STATUS[e.code], { error: { code: e.code, message, ...(hint ? { hint } : {}) } }, headers);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new PortcullisError('resource_exhausted', `request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (cause) {
    throw new PortcullisError('invalid_argument', 'request body must be a JSON object', { cause });
  }
}

export function bearerToken(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new PortcullisError('unauthenticated', 'sign in: send Authorization: Bearer <token> with a human identity token', {
      details: { hint: 'mint one in development with `portcullis token issue --subject alice`' },
    });
  }
  return m[1] as string;
}
