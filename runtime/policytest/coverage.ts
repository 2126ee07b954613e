/** Rule coverage: a rule no test case made decide (or mask) is a rule nobody has pinned down. */
import type { Bundle } from '../bundle/model.ts';
import type { Coverage } from './types.ts';

export function coverageOf(bundle: Bundle, exercised: ReadonlySet<string>): Coverage {
  const all: { rule: string; file: string; line: number }[] = [];
  for (const p of bundle.policies) {
    p.doc.spec.rules.forEach((r, i) => {
      all.push({ rule: `${p.doc.metadata.name}/${r.id}`, file: p.origin.file, line: p.origin.locate(`/spec/rules/${i}`).line });
    });
  }
  const uncovered = all.filter((r) => !exercised.has(r.rule));
  const exercisedCount = all.length - uncovered.length;
  const percent = all.length === 0 ? 100 : Math.round((exercisedCount / all.length) * 1000) / 10;
  return { total: all.length, exercised: exercisedCount, percent, uncovered };
}
