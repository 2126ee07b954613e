/**
 * A `type: mcp` target as the MCP endpoint uses it. It reuses the HTTP proxy's Upstream shape so the
 * connection pools and credential handling are the same code as for HTTP targets (the gateway holds
 * the credential; the agent never sees it).
 */
import type { Bundle } from '../../bundle/model.ts';
import { parseDuration } from '../../engine/duration.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_MS, type Upstream } from '../../http-transport/upstream.ts';

export interface McpTarget {
  name: string;
  /** the server's Streamable HTTP endpoint, exactly as the target names it */
  url: URL;
  upstream: Upstream;
  /** tool name -> sha256 of its definition, from the target's `pinned` list */
  pinned: ReadonlyMap<string, string>;
}

export function mcpTargetOf(bundle: Bundle, name: string): McpTarget | undefined {
  const spec = bundle.targets.get(name)?.doc.spec;
  if (spec?.type !== 'mcp') return undefined;
  const url = new URL(spec.url);
  return {
    name,
    url,
    upstream: {
      name,
      // the pools and credential helpers only distinguish http from kubernetes
      type: 'http',
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      timeoutMs: spec.timeout ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      passUnmaskedContentTypes: [],
      paths: undefined,
      auth: spec.auth,
      tls: undefined,
    },
    pinned: new Map((spec.pinned ?? []).map((p) => [p.tool, p.sha256])),
  };
}

/** The upstream path and query: the target URL's own, never anything the agent spelled. */
export function upstreamPath(target: McpTarget): string {
  return `${target.url.pathname}${target.url.search}`;
}
