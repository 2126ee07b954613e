import type { LintRule, RawFinding } from '../types.ts';
import { destructiveActions } from '../../bundle/vocabulary.ts';
import { compileMatcher } from '../../engine/match.ts';

const execSubresources = ['pods/exec', 'pods/attach', 'pods/portforward', 'nodes/proxy'];

export default {
  id: 'destructive-without-review',
  severity: 'error',
  title: 'Agents may destroy or change data without a human review',
  explanation:
    "An agent that misreads a task can delete rows, drop a table, delete a deployment or open a shell in a pod in one request, and no log makes that undone. Destructive actions - PostgreSQL delete, ddl and admin, update without `when.requireWhere`, Kubernetes delete, deletecollection and exec/attach/port-forward, HTTP DELETE - should be `effect: review` for agents, so a human approves (optionally opening a short just-in-time grant). An `allow` of such an action, including through actions: ['*'], is reported.",
  fix: 'Change the rule to effect: review with approvers (and a grant.ttl if the agent needs a window), or deny it; for update, add when: {requireWhere: true}.',
  check(ctx) {
    const out: RawFinding[] = [];
    const facts = ctx.facts;
    if (!facts) return out;
    for (const e of facts.rules) {
      if (e.rule.effect !== 'allow') continue;
      if (![...e.identities].some((i) => facts.agents.has(i))) continue;
      const all = e.rule.actions.includes('*');
      const bad = new Set<string>();
      for (const type of e.types) {
        for (const a of destructiveActions[type]) {
          if (!all && !e.rule.actions.includes(a)) continue;
          if (a === 'update' && e.rule.when?.requireWhere) continue;
          bad.add(a === 'update' ? 'update without WHERE' : a);
        }
        if (type === 'kubernetes' && (all || e.rule.actions.includes('create') || e.rule.actions.includes('get'))) {
          const m = compileMatcher(e.rule.resources, 'kubernetes');
          const hit = execSubresources.filter((s) => m.test(s));
          for (const h of hit) bad.add(h);
        }
      }
      if (bad.size === 0) continue;
      out.push({
        message: `rule '${e.rule.id}' allows ${[...bad].join(', ')} to agents without review`,
        at: { origin: e.policy.origin, pointer: `${e.pointer}/effect` },
      });
    }
    return out;
  },
} satisfies LintRule;
