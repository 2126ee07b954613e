import type { LintRule, RawFinding } from '../types.ts';

export default {
  id: 'ineffective-mask',
  severity: 'warning',
  title: 'A deny rule carries a mask',
  explanation:
    'Masks shape what an allowed (or approved) request returns. A deny rule returns nothing, so its mask never applies - and a reader may believe the data it names is masked elsewhere because of it. Usually the mask was meant for an allow rule next to it.',
  fix: 'Move the mask to the allow or review rule that should carry it.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const e of ctx.facts?.rules ?? []) {
      if (e.rule.effect === 'deny' && (e.rule.mask ?? []).length > 0) {
        out.push({ message: `rule '${e.rule.id}' denies, so its mask never applies`, at: { origin: e.policy.origin, pointer: `${e.pointer}/mask` } });
      }
    }
    return out;
  },
} satisfies LintRule;
