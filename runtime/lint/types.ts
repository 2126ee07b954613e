/**
 * The linter's vocabulary. A rule is data plus one pure `check`: the catalogue, `--explain`, SARIF
 * rule metadata and the docs are all generated from the same objects, so they cannot drift apart.
 */
import type { Severity } from '../bundle/diagnostics.ts';
import type { Origin } from '../bundle/model.ts';
import type { LintContext } from './context.ts';

export type { Severity };

/** Where a finding points: a value inside a document (suppressible there), or a raw position. */
export type Place = { origin: Origin; pointer: string } | { file: string; line: number; column: number };

export interface RawFinding {
  message: string;
  at: Place;
  hint?: string;
  /** a rule may report below its default severity (never above) for a weaker form of its problem */
  severity?: Severity;
}

export interface LintRule {
  id: string;
  severity: Severity;
  /** one line, for lists and SARIF shortDescription */
  title: string;
  /** one paragraph: what the rule catches and why it matters */
  explanation: string;
  /** what to change; used when a finding has no more specific hint */
  fix: string;
  /** true for rules that only wrap the bundle loader's diagnostics (they cannot be suppressed) */
  fromLoader?: boolean;
  /** true for rules about something missing (a target no policy covers...): not run while files with loader errors are set aside */
  wholeRepo?: boolean;
  check(ctx: LintContext): RawFinding[];
}

export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  column: number;
  hint?: string;
}

export interface LintReport {
  root: string;
  files: number;
  findings: Finding[];
  /** findings silenced by a `suppress` entry, with its reason, for audit */
  suppressed: (Finding & { reason: string })[];
  counts: Record<Severity, number>;
  durationMs: number;
}
