/** Which member names field masks end in: the HTTP, Kubernetes and MCP adapters all look for them in text. */
import type { Mask } from '../../engine/decision.ts';
import { parseJsonPath } from './json-path.ts';

/** Final member names of field masks (`$..email` -> email), for spotting JSON inside text. */
export function fieldNamesOf(masks: readonly Mask[]): string[] {
  const names = new Set<string>();
  for (const m of masks) {
    if (m.kind !== 'field') continue;
    const last = parseJsonPath(m.pattern).at(-1);
    const step = last?.kind === 'descend' ? last.step : last;
    if (step?.kind === 'child') names.add(step.name);
  }
  return [...names];
}
