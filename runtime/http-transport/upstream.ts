/**
 * A target as the proxy uses it: where it lives, how long to wait, how much to carry, and the
 * credential the gateway holds for it. Credentials are resolved per request (cheap for env, and a
 * rotated file is picked up without a restart) and are never logged.
 */
import { Agent, type Dispatcher } from 'undici';
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import { parseDuration } from '../engine/duration.ts';
import { resolveSecret } from '../gateway/secrets.ts';
import type { HttpAuth, Tls } from '../../schema/types.ts';
import type { PathSemantics } from '../requests/http.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Kubernetes lists are large and the schema has no limit field for them */
export const DEFAULT_KUBERNETES_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface Upstream {
  name: string;
  type: 'http' | 'kubernetes';
  origin: string;
  /** the target URL's path without a trailing slash ('' for the root) */
  basePath: string;
  timeoutMs: number;
  maxBodyBytes: number;
  passUnmaskedContentTypes: readonly string[];
  /** how the upstream reads paths (HTTP targets; Target spec.paths) */
  paths: PathSemantics | undefined;
  auth: HttpAuth | undefined;
  tls: Tls | undefined;
}

/** A bundle never changes once loaded: its targets' proxy views are built once, on first use. */
const upstreams = new WeakMap<Bundle, Map<string, Upstream | undefined>>();

/** The proxy's view of a target, or undefined when the bundle has no HTTP/Kubernetes target of that name. */
export function upstreamOf(bundle: Bundle, name: string): Upstream | undefined {
  let byName = upstreams.get(bundle);
  if (!byName) upstreams.set(bundle, (byName = new Map()));
  if (byName.has(name)) return byName.get(name);
  const up = buildUpstream(bundle, name);
  // only names the bundle has are remembered, so probing random names cannot grow the map
  if (bundle.targets.has(name)) byName.set(name, up);
  return up;
}

function buildUpstream(bundle: Bundle, name: string): Upstream | undefined {
  const located = bundle.targets.get(name);
  if (!located) return undefined;
  const spec = located.doc.spec;
  if (spec.type !== 'http' && spec.type !== 'kubernetes') return undefined;
  const url = new URL(spec.url);
  return Object.freeze({
    name,
    type: spec.type,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    timeoutMs: spec.timeout ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
    maxBodyBytes: spec.type === 'http' && spec.maxBodyBytes !== undefined ? spec.maxBodyBytes : spec.type === 'kubernetes' ? DEFAULT_KUBERNETES_MAX_BODY_BYTES : DEFAULT_MAX_BODY_BYTES,
    passUnmaskedContentTypes: spec.type === 'http' ? (spec.passUnmaskedContentTypes ?? []) : [],
    paths: spec.type === 'http' ? spec.paths : undefined,
    auth: spec.auth,
    tls: spec.tls,
  });
}

/** The headers that carry the target's own credential. */
export async function credentialHeaders(up: Upstream): Promise<Record<string, string>> {
  const auth = up.auth;
  if (!auth) return {};
  const what = `target ${up.name}`;
  if (auth.bearer) return { authorization: `Bearer ${await resolveSecret(auth.bearer, `${what} bearer token`)}` };
  if (auth.basic) {
    const password = await resolveSecret(auth.basic.password, `${what} password`);
    return { authorization: `Basic ${Buffer.from(`${auth.basic.username}:${password}`).toString('base64')}` };
  }
  if (auth.header) return { [auth.header.name.toLowerCase()]: await resolveSecret(auth.header.value, `${what} header ${auth.header.name}`) };
  return {};
}

/** TLS options for connecting to the upstream, shared by undici and raw upgrade sockets. */
export async function upstreamTls(up: Upstream): Promise<{ ca?: string; servername?: string; rejectUnauthorized: boolean }> {
  const tls = up.tls ?? {};
  return {
    ...(tls.ca ? { ca: await resolveSecret(tls.ca, `target ${up.name} TLS CA`) } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    // 'require' encrypts without verifying, as libpq does; anything else verifies
    rejectUnauthorized: tls.mode !== 'require',
  };
}

/** One connection pool per target and TLS setting; redirects are never followed (undici's default). */
export class Dispatchers {
  private readonly pools = new Map<string, Agent>();
  /** plain-HTTP targets need no TLS material: their pool is found without building a key */
  private plain = new WeakMap<Upstream, Agent>();

  /** The pool of a plain-HTTP target already in use, found without a promise; undefined otherwise. */
  known(up: Upstream): Dispatcher | undefined {
    return this.plain.get(up);
  }

  async get(up: Upstream): Promise<Dispatcher> {
    const known = this.plain.get(up);
    if (known) return known;
    const tls = up.origin.startsWith('https:') ? await upstreamTls(up) : undefined;
    const key = `${up.name}\0${up.origin}\0${JSON.stringify(tls ?? {})}`;
    let agent = this.pools.get(key);
    if (!agent) {
      agent = new Agent({ connect: tls ?? {}, keepAliveTimeout: 10_000 });
      this.pools.set(key, agent);
    }
    if (!tls) this.plain.set(up, agent);
    return agent;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    this.plain = new WeakMap();
    await Promise.allSettled(all.map((a) => a.close()));
  }
}

export function upstreamError(error: unknown, up: Upstream): PortcullisError {
  if (error instanceof PortcullisError) return error;
  const code = (error as { code?: string }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new PortcullisError('deadline_exceeded', `target ${up.name} did not answer within ${up.timeoutMs} ms`, { cause: error });
  }
  return new PortcullisError('unavailable', `target ${up.name} could not be reached`, { cause: error });
}
