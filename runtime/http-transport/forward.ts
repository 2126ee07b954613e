/**
 * Sending an allowed request upstream with undici: the path policy decided on (not the agent's raw
 * spelling), the target's credential, a bounded streamed body, and a deadline. Redirects come back
 * to the agent as they are: following one would make a request nobody decided on.
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import { PortcullisError } from '../errors.ts';
import { credentialHeaders, upstreamError, type Dispatchers, type Upstream } from './upstream.ts';
import { OVERRIDE_HEADERS, upstreamRequestHeaders } from './headers.ts';

/** Re-encode a normalised path: segments percent-encoded except the characters RFC 3986 lets be. */
const UNRESERVED_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

export function encodePath(path: string): string {
  // the common path has nothing to encode: every character is one the encoding leaves as it is
  if (UNRESERVED_PATH.test(path)) return path;
  return path
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))))
    .join('/');
}

/** The query exactly as parseQuery saw it, re-serialised, so upstream and policy read the same pairs. */
export function encodeQuery(search: string): string {
  if (search === '') return '';
  const s = new URLSearchParams(search).toString();
  return s ? `?${s}` : '';
}

const NO_CREDENTIAL: Record<string, string> = Object.freeze({}) as Record<string, string>;

export interface ForwardOptions {
  dispatchers: Dispatchers;
  upstream: Upstream;
  req: IncomingMessage;
  /** normalised path below the target (starts with '/') */
  path: string;
  search: string;
  forMasking: boolean;
  /** 0 disables the body timeout (watch streams, followed logs) */
  bodyTimeoutMs?: number;
  /** replace the agent's Accept (Kubernetes: JSON instead of protobuf) */
  accept?: string;
  /** the method decided on, when a method override replaced the wire method */
  method?: string;
  /** the body already read (a reviewed request, a form): sent as these bytes */
  body?: Buffer;
}

function bodyLimit(limit: number, target: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) done(tooLargeRequest(limit, target));
      else done(null, chunk);
    },
  });
}

function tooLargeRequest(limit: number, target: string): PortcullisError {
  return new PortcullisError('resource_exhausted', `the request body is larger than ${limit} bytes, the most target ${target} accepts`, {
    details: { status: 413, limit },
  });
}

export async function forward(opts: ForwardOptions): Promise<Dispatcher.ResponseData> {
  const { upstream: up, req } = opts;
  const declared = Number(req.headers['content-length'] ?? 'NaN');
  if (Number.isFinite(declared) && declared > up.maxBodyBytes) throw tooLargeRequest(up.maxBodyBytes, up.name);
  // a target without a credential needs no secret resolved: no promise to wait for
  const headers = upstreamRequestHeaders(req.headers, { credential: up.auth ? await credentialHeaders(up) : NO_CREDENTIAL, forMasking: opts.forMasking });
  if (opts.accept !== undefined) headers['accept'] = opts.accept;
  // an override was applied (or refused) by the gateway: the upstream gets the decided method only
  for (const name of OVERRIDE_HEADERS) delete headers[name];
  if (opts.body !== undefined) {
    delete headers['transfer-encoding'];
    headers['content-length'] = String(opts.body.length);
  }
  const hasBody = opts.body === undefined && (req.headers['transfer-encoding'] !== undefined || (Number.isFinite(declared) && declared > 0));
  let limiter: Transform | undefined;
  let limitError: unknown;
  if (hasBody) {
    limiter = bodyLimit(up.maxBodyBytes, up.name);
    limiter.on('error', (e) => (limitError = e));
    req.pipe(limiter);
  }
  const dispatcher = opts.dispatchers.known(up) ?? (await opts.dispatchers.get(up));
  try {
    return await dispatcher.request({
      origin: up.origin,
      path: `${up.basePath}${encodePath(opts.path)}${encodeQuery(opts.search)}`,
      method: (opts.method ?? req.method) as Dispatcher.HttpMethod,
      headers,
      body: opts.body ?? limiter ?? null,
      headersTimeout: up.timeoutMs,
      bodyTimeout: opts.bodyTimeoutMs ?? up.timeoutMs,
    });
  } catch (error) {
    throw PortcullisError.is(limitError) ? limitError : PortcullisError.is(error) ? error : upstreamError(error, up);
  }
}
