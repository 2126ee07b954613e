import type { LintRule, RawFinding } from '../types.ts';
import type { TargetType } from '../../bundle/model.ts';

const wildcards = new Set(['*', '**', '/**', '*.*', '*/*']);
/** Actions that reach data through a named resource; transaction control and SET name none. */
const resourceActions: Record<TargetType, ReadonlySet<string>> = {
  postgres: new Set(['select', 'insert', 'update', 'delete', 'copy', 'ddl']),
  http: new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
  kubernetes: new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']),
  mcp: new Set(['tools/call', 'resources/read', 'prompts/get']),
};

export default {
  id: 'wildcard-allow-for-agents',
  severity: 'error',
  title: 'Agents are allowed every action or every resource',
  explanation:
    "An allow rule whose subjects include agents and whose actions are '*', or whose resources are omitted or a bare wildcard ('*', '**', '/**'), grants agents everything a target has now and everything added later: new tables, endpoints and Kubernetes resources become reachable without anyone reviewing a policy change. Least privilege for autonomous agents means naming what they need. Globs that stay inside a known prefix (public.orders_*, /invoices/**) are fine.",
  fix: 'List the actions and resources the agent needs; keep wildcards for deny rules.',
  check(ctx) {
    const out: RawFinding[] = [];
    const facts = ctx.facts;
    if (!facts) return out;
    for (const e of facts.rules) {
      if (e.rule.effect !== 'allow') continue;
      const agents = [...e.identities].filter((i) => facts.agents.has(i));
      if (agents.length === 0) continue;
      const who = agents.length > 3 ? `${agents.slice(0, 3).join(', ')} and ${agents.length - 3} more` : agents.join(', ');
      if (e.rule.actions.includes('*')) {
        out.push({ message: `rule '${e.rule.id}' allows every action to agents (${who})`, at: { origin: e.policy.origin, pointer: `${e.pointer}/actions` } });
        continue;
      }
      const touchesResources = [...e.types].some((t) => e.rule.actions.some((a) => resourceActions[t].has(a)));
      if (!touchesResources) continue;
      const resources = e.rule.resources;
      if (!resources) {
        out.push({ message: `rule '${e.rule.id}' allows ${e.rule.actions.join(', ')} on every resource to agents (${who}): it has no resources`, at: { origin: e.policy.origin, pointer: e.pointer } });
      } else {
        const i = resources.findIndex((r) => wildcards.has(r));
        if (i >= 0)
          out.push({
            message: `rule '${e.rule.id}' allows ${e.rule.actions.join(', ')} on '${resources[i]}' to agents (${who})`,
            at: { origin: e.policy.origin, pointer: `${e.pointer}/resources/${i}` },
          });
      }
    }
    return out;
  },
} satisfies LintRule;
