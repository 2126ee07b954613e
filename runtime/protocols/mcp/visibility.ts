/**
 * Listing filters: an agent sees the tools it may call, the resources it may read and the prompts
 * it may get. Each listed item is decided with the engine as the call it stands for. Listing is a
 * convenience, not the enforcement (every call is decided on its own), so an item whose call is
 * allowed only for some arguments (a `when.arguments` condition) stays visible: without arguments
 * such a rule cannot match, and hiding the tool would make the allowed calls impossible to find.
 */
import type { Bundle } from '../../bundle/model.ts';
import { subjectKey } from '../../engine/compile.ts';
import { judgeUnrecorded } from '../../exchange/index.ts';
import type { McpRequest, Subject } from '../../engine/request.ts';

export interface Visibility {
  bundle: Bundle;
  subject: Subject;
  target: string;
  at: string;
}

export function mayUse(v: Visibility, action: string, name: string): boolean {
  const request: McpRequest = {
    protocol: 'mcp',
    subject: { identity: v.subject.identity, groups: [...v.subject.groups] },
    target: v.target,
    at: v.at,
    method: action,
    name,
  };
  const decision = judgeUnrecorded(v.bundle, request);
  if (decision.effect !== 'deny') return true;
  if (decision.rules.length > 0) return false;
  return conditionallyAllowed(v, action, name);
}

/** Some allow rule names this item for this subject, but its conditions need the call's arguments. */
function conditionallyAllowed(v: Visibility, action: string, name: string): boolean {
  const target = v.bundle.index.targets.get(v.target);
  if (!target) return false;
  const keys = [subjectKey({ identity: v.subject.identity }), ...v.subject.groups.map((group) => subjectKey({ group }))];
  for (const key of keys) {
    const buckets = target.bySubject.get(key);
    for (const rule of [...(buckets?.get(action) ?? []), ...(buckets?.get('*') ?? [])]) {
      if (rule.effect === 'allow' && (rule.resources.any || rule.resources.test(name))) return true;
    }
  }
  return false;
}

/** What each listing holds and which call decides an entry's visibility. */
export const listings: Record<string, { key: 'tools' | 'resources' | 'resourceTemplates' | 'prompts'; action: string; id: 'name' | 'uri' | 'uriTemplate' }> = {
  'tools/list': { key: 'tools', action: 'tools/call', id: 'name' },
  'resources/list': { key: 'resources', action: 'resources/read', id: 'uri' },
  'resources/templates/list': { key: 'resourceTemplates', action: 'resources/read', id: 'uriTemplate' },
  'prompts/list': { key: 'prompts', action: 'prompts/get', id: 'name' },
};
