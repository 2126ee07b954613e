/**
 * Tool-definition pinning. An MCP server describes its tools in prose the agent's model reads, so a
 * server that swaps a description or schema mid-session changes what the agent believes it is
 * calling ("rug pull"). Each tool's definition is fingerprinted when first seen in a session under
 * a policy commit; a different definition later in that session, or one that does not match the
 * target's `pinned` entry for the tool, makes the tool uncallable and invisible.
 */
import { createHash } from 'node:crypto';
import { canonical } from '../../encoding/canonical.ts';
import { PortcullisError } from '../../errors.ts';
import type { McpTarget } from './target.ts';

export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema?: unknown;
}

/** sha256 (hex) of the canonical JSON of name, description and inputSchema; what `pinned` lists. */
export function toolFingerprint(tool: ToolDefinition): string {
  const definition = { name: tool.name, description: tool.description ?? null, inputSchema: tool.inputSchema ?? null };
  return createHash('sha256').update(canonical(definition)).digest('hex');
}

export class ToolPins {
  /** revision -> tool name -> fingerprint first seen */
  private readonly seen = new Map<string, Map<string, string>>();

  /** undefined when the tool may be offered and called; else the refusal naming it. */
  check(target: McpTarget, revision: string, tool: ToolDefinition): PortcullisError | undefined {
    const fingerprint = toolFingerprint(tool);
    const pinned = target.pinned.get(tool.name);
    if (pinned !== undefined && pinned !== fingerprint) {
      return new PortcullisError(
        'failed_precondition',
        `tool ${JSON.stringify(tool.name)} of target ${target.name} does not match its pinned definition (sha256 ${fingerprint.slice(0, 12)}…, pinned ${pinned.slice(0, 12)}…), so it cannot be called`,
        { details: { tool: tool.name, hint: 'if the new definition is intended, update the pinned sha256 in the target through a pull request' } },
      );
    }
    let tools = this.seen.get(revision);
    if (!tools) {
      tools = new Map();
      this.seen.set(revision, tools);
    }
    const first = tools.get(tool.name);
    if (first === undefined) {
      tools.set(tool.name, fingerprint);
      return undefined;
    }
    if (first === fingerprint) return undefined;
    return new PortcullisError(
      'failed_precondition',
      `tool ${JSON.stringify(tool.name)} of target ${target.name} changed its definition during this session (sha256 ${first.slice(0, 12)}… became ${fingerprint.slice(0, 12)}…), so it cannot be called`,
      { details: { tool: tool.name, hint: 'start a new MCP session to accept the new definition, or pin the tool in the target' } },
    );
  }
}
