/** The report as JSON: the shape in types.ts, indented so a diff between two reports reads well. */
import type { EvidenceReport } from './types.ts';

export function renderJson(report: EvidenceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
