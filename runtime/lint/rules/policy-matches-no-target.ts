import type { LintRule, RawFinding } from '../types.ts';
import { targetsOf } from '../../bundle/resolve.ts';

export default {
  id: 'policy-matches-no-target',
  severity: 'warning',
  title: "A policy's label selector matches no target",
  explanation:
    'A policy can select its targets by labels ({labels: {env: prod}}). When no target carries those labels, every rule of the policy is unreachable. This usually follows a relabelled target or a typo in a label value, and it silently removes whatever the policy allowed - or denied.',
  fix: 'Fix the selector or the target labels, or name the targets explicitly.',
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const bundle = ctx.bundle;
    for (const p of bundle?.policies ?? []) {
      const sel = p.doc.spec.targets;
      if (Array.isArray(sel) || targetsOf(sel, bundle!.targets).length > 0) continue;
      const want = Object.entries(sel.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      out.push({ message: `policy '${p.doc.metadata.name}' selects targets labelled ${want}, and there are none`, at: { origin: p.origin, pointer: '/spec/targets' } });
    }
    return out;
  },
} satisfies LintRule;
