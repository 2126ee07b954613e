import type { LintRule, RawFinding } from '../types.ts';
import type { Located, Target } from '../../bundle/model.ts';
import { compileMatcher } from '../../engine/match.ts';
import { columnPatternCovers } from '../../engine/pattern.ts';

/** A column pattern split into its relation part and column: `customers.email` -> [customers, email]. */
function splitColumn(p: string): { relation: string; column: string } {
  const i = p.lastIndexOf('.');
  return { relation: p.slice(0, i), column: p.slice(i + 1) };
}

export default {
  id: 'classified-data-unmasked',
  severity: 'error',
  title: 'Classified data can be read in clear text',
  explanation:
    'Masks come from the classification of the target a request goes to. Data the repo classifies on one target is readable in clear on another that lacks the classification: a read replica or reporting copy of a database with the same tables, or a Kubernetes cluster whose Secret data is not classified. This rule reports a select allowed to agents on a PostgreSQL target without classification when another PostgreSQL target classifies columns of the same tables (and the rule does not mask them itself), and get/list/watch on secrets allowed to agents on a Kubernetes target whose classification does not cover secretData.',
  fix: 'Copy the classification to the target that lacks it (or add a mask to the rule), or stop allowing the read.',
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const classifiedColumns: { pattern: string; name: string; target: string }[] = [];
    for (const [name, t] of bundle.targets) {
      if (t.doc.spec.type !== 'postgres') continue;
      for (const c of t.doc.spec.classification ?? []) for (const col of c.columns ?? []) classifiedColumns.push({ pattern: col, name: c.name, target: name });
    }
    const hasColumns = (t: Located<Target>) => (t.doc.spec.classification ?? []).some((c) => (c.columns ?? []).length > 0);
    const hasSecretData = (t: Located<Target>) => (t.doc.spec.classification ?? []).some((c) => c.secretData);
    for (const e of facts.rules) {
      if (e.rule.effect !== 'allow' || ![...e.identities].some((i) => facts.agents.has(i))) continue;
      const acts = e.rule.actions;
      const all = acts.includes('*');
      const ruleMasks = (e.rule.mask ?? []).flatMap((m) => m.columns ?? []);
      for (const t of e.targets) {
        const type = t.doc.spec.type;
        if (type === 'postgres' && (all || acts.includes('select') || acts.includes('copy')) && !hasColumns(t)) {
          const m = compileMatcher(e.rule.resources, 'postgres');
          const exposed = classifiedColumns.filter((c) => {
            if (c.target === t.doc.metadata.name) return false;
            const { relation, column } = splitColumn(c.pattern);
            const rel = relation.includes('*') ? undefined : relation.includes('.') ? relation : `public.${relation}`;
            const reachable = rel === undefined ? true : m.test(rel);
            // masked as the gateway masks: the rule's column patterns against the classified columns it can reach
            const classified = rel === undefined ? c.pattern : `${rel}.${column}`;
            const masked = ruleMasks.some((p) => columnPatternCovers(p, classified));
            return reachable && !masked;
          });
          if (exposed.length > 0) {
            const list = [...new Set(exposed.map((c) => `${c.pattern} (${c.name} on ${c.target})`))].slice(0, 4).join(', ');
            out.push({
              message: `rule '${e.rule.id}' lets agents read target '${t.doc.metadata.name}', which has no classification, while the repo classifies ${list}`,
              at: { origin: e.policy.origin, pointer: `${e.pointer}/actions` },
              hint: `add the classification to target '${t.doc.metadata.name}' (${t.origin.file})`,
            });
          }
        }
        if (type === 'kubernetes' && !hasSecretData(t) && (all || acts.some((a) => a === 'get' || a === 'list' || a === 'watch'))) {
          if (compileMatcher(e.rule.resources, 'kubernetes').test('secrets')) {
            out.push({
              message: `rule '${e.rule.id}' lets agents read Secrets on '${t.doc.metadata.name}', whose classification does not cover secretData`,
              at: { origin: e.policy.origin, pointer: `${e.pointer}/actions` },
              hint: `add a classification with secretData: true to target '${t.doc.metadata.name}'`,
            });
          }
        }
      }
    }
    return out;
  },
} satisfies LintRule;
