/**
 * The checks before any MCP logic, in the HTTP listener's order and words: a live bundle (fail
 * closed), a bearer token the gateway verifies, then the target. The agent's token authenticates it
 * to the gateway only; it is never forwarded.
 */
import type { IncomingMessage } from 'node:http';
import type { Bundle } from '../../bundle/model.ts';
import { PortcullisError } from '../../errors.ts';
import type { ListenerContext, ListenerSubject } from '../../http-transport/context.ts';
import { authenticateRequest, type Routed } from '../../http-transport/front.ts';
import { mcpTargetOf, type McpTarget } from './target.ts';

export interface McpAdmitted {
  bundle: Bundle;
  subject: ListenerSubject;
  target: McpTarget;
}

export async function admitMcp(ctx: ListenerContext, req: IncomingMessage, routed: Routed): Promise<McpAdmitted> {
  const { bundle, subject } = await authenticateRequest(ctx, req);
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
