/**
 * Resources inside results. A tool (or a prompt) can hand back a resource by value (`type:
 * "resource"`) or by link (`type: "resource_link"`); either way the agent gets what `resources/read`
 * of that URI would give, so each one is decided as that read. A refused one is replaced by a text
 * block saying why (the rest of the result still arrives); an allowed one is masked with the read's
 * masks as well as the call's. A read that needs review is withheld too: a result cannot wait for
 * approvers, and the agent can ask for the resource itself, which is then reviewed.
 */
import type { Bundle } from '../../bundle/model.ts';
import { judgeUnrecorded, refusalOf } from '../../exchange/index.ts';
import type { McpRequest, Subject } from '../../engine/request.ts';
import { mcpMasker } from './masking.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface ResourceGate {
  bundle: Bundle;
  subject: Subject;
  target: string;
  at: string;
  maskKey: Buffer;
}

function uriOf(block: Obj): string | undefined {
  if (block.type === 'resource_link' && typeof block.uri === 'string') return block.uri;
  if (block.type === 'resource' && isObj(block.resource) && typeof block.resource.uri === 'string') return block.resource.uri;
  return undefined;
}

/** The content blocks with every resource decided; counts what the read masks replaced. */
function gateBlocks(gate: ResourceGate, blocks: unknown[]): { blocks: unknown[]; count: number } {
  let count = 0;
  const out = blocks.map((block) => {
    if (!isObj(block) || (block.type !== 'resource' && block.type !== 'resource_link')) return block;
    const uri = uriOf(block);
    if (uri === undefined) return withheldBlock('a resource without a URI cannot be decided');
    const request: McpRequest = {
      protocol: 'mcp',
      subject: { identity: gate.subject.identity, groups: [...gate.subject.groups] },
      target: gate.target,
      at: gate.at,
      method: 'resources/read',
      name: uri,
    };
    const decision = judgeUnrecorded(gate.bundle, request);
    if (decision.effect !== 'allow') {
      const why = decision.effect === 'review' ? 'reading it needs review; read it with resources/read' : refusalOf(decision).message.replace(` on ${uri}`, ' on this resource');
      return withheldBlock(why);
    }
    if (block.type === 'resource' && decision.masks.length > 0) {
      const masked = mcpMasker(decision.masks, gate.maskKey, gate.target).result('resources/read', { contents: [block.resource] });
      count += masked.count;
      return { ...block, resource: (masked.value as { contents: unknown[] }).contents[0] };
    }
    return block;
  });
  return { blocks: out, count };
}

/** The URI itself can name what it holds (customers://7): it is not repeated in the refusal. */
function withheldBlock(why: string): Obj {
  return { type: 'text', text: `[a resource was withheld: ${why}]` };
}

/** A tools/call or prompts/get result with its resources decided; other results unchanged. */
export function gateResources(gate: ResourceGate, method: string, result: unknown): { value: unknown; count: number } {
  if (!isObj(result)) return { value: result, count: 0 };
  if (method === 'tools/call' && Array.isArray(result.content)) {
    const g = gateBlocks(gate, result.content);
    return { value: { ...result, content: g.blocks }, count: g.count };
  }
  if (method === 'prompts/get' && Array.isArray(result.messages)) {
    let count = 0;
    const messages = result.messages.map((m) => {
      if (!isObj(m) || !isObj(m.content)) return m;
      const g = gateBlocks(gate, [m.content]);
      count += g.count;
      return { ...m, content: g.blocks[0] };
    });
    return { value: { ...result, messages }, count };
  }
  return { value: result, count: 0 };
}
