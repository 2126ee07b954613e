/**
 * The checks every request passes before any protocol logic: a live bundle (fail closed), a target
 * named by the first path segment, and an authenticated subject. Authentication comes before the
 * target lookup's verdict so an anonymous caller cannot probe which targets exist.
 */
import type { IncomingMessage } from 'node:http';
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import type { ListenerContext, ListenerSubject } from './context.ts';
import { bearerToken } from './headers.ts';
import type { ErrorFormat } from './refusal.ts';
import { upstreamOf, type Upstream } from './upstream.ts';

export interface Admitted {
  bundle: Bundle;
  subject: ListenerSubject;
  upstream: Upstream;
  /** the raw path below `/<target>`, '/' at least; not yet decoded or normalised */
  rest: string;
  /** the raw query string without '?' */
  search: string;
}

export interface Routed {
  targetName: string;
  rest: string;
  search: string;
}

/** `/<target>/<rest>?<query>`; absolute-form request targets (forward-proxy style) are refused. */
export function route(url: string | undefined): Routed {
  if (!url || !url.startsWith('/')) {
    throw new PortcullisError('invalid_argument', 'the request target must be a path: /<target>/<path>');
  }
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const search = q >= 0 ? url.slice(q + 1) : '';
  const slash = path.indexOf('/', 1);
  const targetName = slash >= 0 ? path.slice(1, slash) : path.slice(1);
  const rest = slash >= 0 ? path.slice(slash) : '/';
  return { targetName, rest, search };
}

/** The error format before we know who is asking: Kubernetes targets speak Status objects. */
export function formatFor(bundle: Bundle | undefined, targetName: string): ErrorFormat {
  return bundle && upstreamOf(bundle, targetName)?.type === 'kubernetes' ? 'kubernetes' : 'problem';
}

/**
 * What every request on this listener passes first, whatever its target type: a live bundle (fail
 * closed), then a bearer token the gateway verifies. Before the target, so an anonymous caller cannot
 * probe target names.
 */
export async function authenticateRequest(ctx: ListenerContext, req: IncomingMessage): Promise<{ bundle: Bundle; subject: ListenerSubject }> {
  const bundle = ctx.bundle();
  if (!bundle) {
    throw new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle, so every request is refused', {
      details: { status: 503, hint: 'fix the policy repo; `portcullis lint` shows what is wrong' },
    });
  }
  const token = bearerToken(req.headers);
  if (!token) {
    throw new PortcullisError('unauthenticated', 'send a bearer token: Authorization: Bearer <token>', {
      details: { tokenPresented: false, hint: 'mint one with `portcullis token issue --subject NAME`' },
    });
  }
  try {
    return { bundle, subject: await ctx.authenticate(token) };
  } catch (error) {
    const e = PortcullisError.from(error, 'unauthenticated', 'the token was refused');
    if (e.code === 'unauthenticated') {
      throw new PortcullisError('unauthenticated', e.message, { cause: e, details: { tokenPresented: true } });
    }
    throw new PortcullisError(e.code, e.message, { cause: e, details: { status: e.code === 'internal' ? 500 : 503 } });
  }
}

export async function admit(ctx: ListenerContext, req: IncomingMessage, routed: Routed): Promise<Admitted> {
  const { bundle, subject } = await authenticateRequest(ctx, req);
  const upstream = upstreamOf(bundle, routed.targetName);
  if (!upstream) {
    throw new PortcullisError('not_found', `no HTTP or Kubernetes target named ${JSON.stringify(routed.targetName)}`, {
      details: { hint: 'call the gateway as /<target>/<path>, with a target of type http or kubernetes' },
    });
  }
  return { bundle, subject, upstream, rest: routed.rest, search: routed.search };
}
