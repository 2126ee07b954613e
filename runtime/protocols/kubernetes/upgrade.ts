/**
 * exec, attach and portforward: the client upgrades the connection (WebSocket, or SPDY/3.1 from older
 * kubectl) and the API server streams a terminal over it. The gateway decides on the upgrade request
 * like any other, records the decision durably, then joins the two sockets byte for byte. It cannot
 * mask a terminal, so only these subresources may upgrade: a watch over WebSocket would bypass Secret
 * masking and is refused. The stream ends at the session's maximum duration or the token's expiry.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { PortcullisError } from '../../errors.ts';
import { limitsOf } from '../../exchange/index.ts';
import { normalisePath } from '../../requests/http.ts';
import type { ListenerContext } from '../../http-transport/context.ts';
import type { Admitted } from '../../http-transport/front.ts';
import { encodePath, encodeQuery } from '../../http-transport/forward.ts';
import { upstreamRequestHeaders } from '../../http-transport/headers.ts';
import type { ExchangeState } from '../../http-transport/handler.ts';
import { credentialHeaders, upstreamTls, type Upstream } from '../../http-transport/upstream.ts';
import { requestAttributes } from './attributes.ts';
import { decideKubernetes } from './proxy.ts';
import { reasonFromHeaders } from '../../gateway/stated-reason.ts';

export const STREAM_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

export interface UpgradeOutcome {
  status: number;
  bytesIn: number;
  bytesOut: number;
  reason: string;
}

async function connectUpstream(up: Upstream): Promise<Socket> {
  const url = new URL(up.origin);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const socket: Socket = url.protocol === 'https:' ? tlsConnect({ host, port, ...(await upstreamTls(up)), ALPNProtocols: ['http/1.1'] }) : netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PortcullisError('deadline_exceeded', `target ${up.name} did not accept a connection within ${up.timeoutMs} ms`));
    }, up.timeoutMs);
    socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new PortcullisError('unavailable', `target ${up.name} could not be reached`, { cause: error }));
    });
  });
  return socket;
}

/** Decide and, when allowed, splice the agent's socket to the upstream's. Resolves when both close. */
export async function proxyUpgrade(ctx: ListenerContext, req: IncomingMessage, socket: Duplex, head: Buffer, admitted: Admitted, state: ExchangeState): Promise<UpgradeOutcome> {
  const up = admitted.upstream;
  if (up.type !== 'kubernetes') {
    throw new PortcullisError('invalid_argument', `target ${up.name} is an HTTP target; the gateway does not proxy upgraded connections to it`, {
      details: { status: 501 },
    });
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const attrs = requestAttributes(method, normalisePath(admitted.rest), new URLSearchParams(admitted.search));
  if (attrs.kind !== 'resource' || !attrs.subresource || !STREAM_SUBRESOURCES.has(attrs.subresource)) {
    throw new PortcullisError('invalid_argument', 'only exec, attach and portforward may upgrade the connection through the gateway', {
      details: { hint: 'watch with ?watch=true over plain HTTP instead of a WebSocket' },
    });
  }
  const { path } = await decideKubernetes(ctx, req.socket as Socket, admitted, method, String(req.headers['user-agent'] ?? ''), state, undefined, reasonFromHeaders(req.headers));

  const upstream = await connectUpstream(up);
  const headers = upstreamRequestHeaders(req.headers, { credential: await credentialHeaders(up), upgrade: true });
  const lines = [`${method} ${up.basePath}${encodePath(path)}${encodeQuery(admitted.search)} HTTP/1.1`, `host: ${new URL(up.origin).host}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v.replace(/[\r\n]/g, '')}`);
  }
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (head.length > 0) upstream.write(head);

  const outcome: UpgradeOutcome = { status: 0, bytesIn: 0, bytesOut: 0, reason: 'closed' };
  let statusLine = '';
  upstream.on('data', (chunk: Buffer) => {
    outcome.bytesOut += chunk.length;
    if (outcome.status === 0 && statusLine.length < 64) {
      statusLine += chunk.toString('latin1', 0, Math.min(chunk.length, 64));
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (m) outcome.status = Number(m[1]);
    }
  });
  socket.on('data', (chunk: Buffer) => (outcome.bytesIn += chunk.length));
  upstream.pipe(socket);
  socket.pipe(upstream);
  ctx.log('kubernetes.stream-start', { target: up.name, identity: admitted.subject.identity, subresource: attrs.subresource, name: attrs.name, namespace: attrs.namespace });

  const limits = limitsOf(admitted.bundle, admitted.subject, up.name);
  const untilExpiry = admitted.subject.expiresAt ? admitted.subject.expiresAt.getTime() - ctx.now().getTime() : Infinity;
  const lifetime = Math.min(limits.maxDurationMs ?? Infinity, untilExpiry);
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(lifetime)) {
    timer = setTimeout(
      () => {
        outcome.reason = lifetime === untilExpiry ? 'token-expired' : 'max-duration';
        upstream.destroy();
        socket.destroy();
      },
      Math.max(0, lifetime),
    );
  }
  await new Promise<void>((resolve) => {
    let open = 2;
    const done = () => {
      if (--open === 0) resolve();
    };
    for (const s of [upstream, socket]) {
      s.once('close', done);
      s.once('error', () => {
        outcome.reason = 'error';
        upstream.destroy();
        socket.destroy();
      });
    }
    upstream.once('close', () => socket.end());
    socket.once('close', () => upstream.end());
  });
  if (timer) clearTimeout(timer);
  return outcome;
}
