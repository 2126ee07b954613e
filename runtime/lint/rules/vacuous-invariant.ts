import type { LintRule, RawFinding } from '../types.ts';
import { reached } from '../context.ts';
import { actionsByType } from '../../bundle/vocabulary.ts';

export default {
  id: 'vacuous-invariant',
  severity: 'error',
  title: 'An invariant checks nothing',
  explanation:
    'An invariant is a promise the simulator tries to break ("agents never get allow on ddl"). If its scope matches no request - its subjects reach no identity, or none of its actions exists on the targets in scope - or it asserts nothing, or it forbids every effect, the simulator can never find a counterexample (or always finds one) and the promise gives false assurance. Typical causes are a renamed target or group, or an HTTP verb in an invariant scoped to a database.',
  fix: 'Fix the scope so it names identities, targets and actions that exist together, and assert effectNot and/or masked.',
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    for (const inv of bundle.invariants) {
      const { scope, assert } = inv.doc.spec;
      const at = (pointer: string) => ({ origin: inv.origin, pointer });
      const name = inv.doc.metadata.name;
      if (scope.subjects && reached(scope.subjects, facts.members).size === 0) {
        out.push({ message: `invariant '${name}': its subjects reach no identity`, at: at('/spec/scope/subjects') });
      }
      const targets = scope.targets ? scope.targets.map((t) => bundle.targets.get(t)).filter((t) => t !== undefined) : [...bundle.targets.values()];
      if (targets.length === 0) out.push({ message: `invariant '${name}': there is no target in scope`, at: at('/spec/scope') });
      if (scope.actions && targets.length > 0) {
        const valid = new Set(targets.flatMap((t) => actionsByType[t.doc.spec.type]));
        if (!scope.actions.some((a) => a === '*' || valid.has(a))) {
          out.push({
            message: `invariant '${name}': none of ${scope.actions.join(', ')} is an action of ${[...new Set(targets.map((t) => t.doc.spec.type))].join(', ')} targets in scope`,
            at: at('/spec/scope/actions'),
          });
        }
      }
      if (!assert.effectNot && !assert.masked) out.push({ message: `invariant '${name}' asserts nothing`, at: at('/spec/assert') });
      if (assert.effectNot && new Set(assert.effectNot).size === 3) {
        out.push({ message: `invariant '${name}' forbids every effect, so any request in scope breaks it`, at: at('/spec/assert/effectNot') });
      }
    }
    return out;
  },
} satisfies LintRule;
