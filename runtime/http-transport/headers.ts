/**
 * Header hygiene between agent and upstream. Hop-by-hop headers belong to one connection and must
 * not be forwarded (RFC 9110 §7.6.1); the agent's credential must never reach the upstream, and an
 * agent must not be able to smuggle a header that the gateway's own credential uses.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Method-override headers (runtime/protocols/http/method-override.ts reads them). The gateway applies an
 * override, or refuses it, itself: whatever the target type, the upstream gets the decided method only.
 */
export const OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Headers named by `Connection: a, b` are hop-by-hop too. */
const NONE: ReadonlySet<string> = new Set();

const COMMON_CONNECTION = new Map<string, ReadonlySet<string>>([
  ['keep-alive', new Set(['keep-alive'])],
  ['close', new Set(['close'])],
]);

function connectionListed(headers: IncomingHttpHeaders | Record<string, unknown>): ReadonlySet<string> {
  const raw = headers['connection'];
  if (raw === undefined) return NONE;
  const text = Array.isArray(raw) ? raw.join(',') : typeof raw === 'string' ? raw : '';
  // what nearly every upstream sends: answered without building a set per response
  const common = COMMON_CONNECTION.get(text);
  if (common) return common;
  return new Set(
    text
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

export interface UpstreamHeaderOptions {
  /** the target's credential headers, set last so the agent cannot override them */
  credential: Record<string, string>;
  /** keep Connection/Upgrade and WebSocket/SPDY handshake headers (exec, attach) */
  upgrade?: boolean;
  /** masking needs the whole representation in an encoding the gateway can decode */
  forMasking?: boolean;
}

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, opts: UpstreamHeaderOptions): Record<string, string | string[]> {
  const listed = connectionListed(incoming);
  const names = Object.keys(opts.credential);
  const credentialNames = names.length === 0 ? NONE : new Set(names.map((k) => k.toLowerCase()));
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined) continue;
    const n = name.toLowerCase();
    if (n === 'host' || n === 'authorization') continue;
    if (credentialNames.has(n)) continue;
    // undici refuses `expect`; the gateway reads the whole request line before forwarding anyway
    if (n === 'expect') continue;
    if (n.startsWith(':')) continue;
    if (!opts.upgrade && (HOP_BY_HOP.has(n) || listed.has(n))) continue;
    if (opts.upgrade && (n === 'proxy-authorization' || n === 'proxy-connection' || n === 'keep-alive' || n === 'te' || n === 'trailer')) continue;
    if (opts.forMasking && (n === 'range' || n === 'if-range' || n === 'accept-encoding')) continue;
    out[n] = value;
  }
  if (opts.forMasking) out['accept-encoding'] = 'gzip, deflate, br';
  for (const name of names) out[name.toLowerCase()] = opts.credential[name]!;
  return out;
}

/**
 * Response headers for the agent: hop-by-hop removed; the body-describing ones are the caller's.
 * `drop`: further (lower-case) names to leave out, e.g. the ones masking invalidates; leaving them
 * out here keeps the object fast (a `delete` afterwards would not).
 */
export function agentResponseHeaders(upstream: Record<string, string | string[] | undefined>, drop?: ReadonlySet<string>): OutgoingHttpHeaders {
  const listed = connectionListed(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(upstream)) {
    const value = upstream[name];
    if (value === undefined) continue;
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || listed.has(n) || drop?.has(n)) continue;
    out[n] = value;
  }
  return out;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | string[] | undefined): string {
  if (contentType === undefined) return '';
  const text = Array.isArray(contentType) ? (contentType[0] ?? '') : contentType;
  // a response's type is read several times, and upstreams send the same few: remembered, bounded
  let type = mediaTypes.get(text);
  if (type === undefined) {
    type = (text.split(';')[0] ?? '').trim().toLowerCase();
    if (text.length <= 128) {
      if (mediaTypes.size >= 256) mediaTypes.clear();
      mediaTypes.set(text, type);
    }
  }
  return type;
}

const mediaTypes = new Map<string, string>();

export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** `Authorization: Bearer X` -> X; undefined when absent or of another scheme. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const raw = headers.authorization;
  if (!raw) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(raw);
  return m ? m[1] : undefined;
}
