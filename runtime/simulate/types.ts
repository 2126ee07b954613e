/** What `portcullis simulate` reports: decision changes on recorded traffic, and invariant searches. */
import type { Effect } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';

export const ChangeKinds = ['newlyAllowed', 'maskRemoved', 'newlyDenied', 'newlyReviewed', 'maskAdded'] as const;
export type ChangeKind = (typeof ChangeKinds)[number];
export type Gate = 'fail' | 'warn' | 'pass';

export interface DecisionSummary {
  effect: Effect;
  rules: string[];
  reason: string;
}

export interface Change {
  kind: ChangeKind;
  sessionId: string;
  seq: number;
  identity: string;
  target: string;
  request: string;
  base: DecisionSummary;
  head: DecisionSummary;
  /** for mask changes: the masks removed or added (`customers.email (partial)`) */
  masks?: string[];
}

export interface ChangeGroup {
  kind: ChangeKind;
  gate: Gate;
  count: number;
  examples: Change[];
}

export interface ReplayReport {
  base: string;
  head: string;
  requests: number;
  sessions: number;
  unchanged: number;
  groups: ChangeGroup[];
  failed: ChangeKind[];
}

export interface Counterexample {
  source: 'recording' | 'search';
  identity: string;
  target: string;
  request: string;
  /** the engine request itself, so it can be replayed exactly */
  raw: Request;
  decision: DecisionSummary;
  violation: string;
  shrinks?: number;
  /** recording the request came from, when source is recording */
  sessionId?: string;
  seq?: number;
}

export interface InvariantResult {
  name: string;
  file: string;
  line: number;
  holds: boolean;
  runs: number;
  counterexample?: Counterexample;
  /** why nothing was searched (scope matched nothing) */
  skipped?: string;
}

export interface SimulateReport {
  seed: number;
  replay?: ReplayReport;
  invariants: InvariantResult[];
  passed: boolean;
  durationMs: number;
}
