/**
 * The checks before any MCP logic, in the HTTP listener's order and words: a live bundle (fail
 * closed), a bearer token the gateway verifies, then the target. The agent's token authenticates it
 * to the gateway only; it is never forwarded.
 */
import type { IncomingMessage } from 'node:http';
import type { Bundle } from '../bundle/model.ts';
import { PortcullisError } from '../errors.ts';
import type { ListenerContext, ListenerSubject } from '../http/context.ts';
import type { Routed } from '../http/front.ts';
import { bearerToken } from '../http/headers.ts';
import { mcpTargetOf, type McpTarget } from './target.ts';

export interface McpAdmitted {
  bundle: Bundle;
  subject: ListenerSubject;
  target: McpTarget;
}

export async function admitMcp(ctx: ListenerContext, req: IncomingMessage, routed: Routed): Promise<McpAdmitted> {
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
  let subject: ListenerSubject;
  try {
    subject = await ctx.authenticate(token);
  } catch (error) {
    const e = PortcullisError.from(error, 'unauthenticated', 'the token was refused');
    if (e.code === 'unauthenticated') throw new PortcullisError('unauthenticated', e.message, { cause: e, details: { tokenPresented: true } });
    throw new PortcullisError(e.code, e.message, { cause: e, details: { status: e.code === 'internal' ? 500 : 503 } });
  }
  const target = mcpTargetOf(bundle, routed.targetName);
  if (!target) {
    throw new PortcullisError('not_found', `no MCP target named ${JSON.stringify(routed.targetName)}`, {
      details: { hint: 'an MCP client connects to /<target>, with a target of type mcp' },
    });
  }
  if (routed.rest !== '/' || routed.search !== '') {
    throw new PortcullisError('not_found', `MCP target ${target.name} is served at /${target.name} itself, not below it`, {
      details: { hint: `point the MCP client at http(s)://GATEWAY/${target.name}` },
    });
  }
  return { bundle, subject, target };
}
