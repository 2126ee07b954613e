/** What `portcullis simulate` reports: decision changes on recorded traffic, and invariant searches. */
import type { Effect } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { SafetyReport } from '../safety/types.ts';

export const ChangeKinds = ['newlyAllowed', 'maskRemoved', 'limitRaised', 'newlyDenied', 'newlyReviewed', 'limitLowered', 'maskAdded'] as const;
export type ChangeKind = (typeof ChangeKinds)[number];
export type Gate = 'fail' | 'warn' | 'pass';

export interface DecisionSummary {
  effect: Effect;
  rules: string[];
  reason: string;
  /** the row limit of the allow rules that matched */
  maxRows?: number;
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
  /** for mask changes: the masks removed or added (`customers.email (partial)`); for limits: `maxRows 1000 → none` */
  masks?: string[];
}

/** Changed requests of one kind with one cause: the same identity, target, deciding rules and change. */
export interface ChangeBucket {
  identity: string;
  target: string;
  /** the rules that decide in the head (else in the base) */
  rules: string[];
  /** `allow → deny` */
  change: string;
  masks?: string[];
  count: number;
  example: Change;
  /** where the change is decided (a rule, or the target whose classification changed), relative to the policy folder */
  file?: string;
  line?: number;
}

export interface ChangeGroup {
  kind: ChangeKind;
  gate: Gate;
  count: number;
  examples: Change[];
  /** by cause, largest first (at most 20) */
  buckets: ChangeBucket[];
  /** causes beyond those listed */
  moreBuckets?: number;
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
  /** 'base': an invariant of the base revision that the head removed or changed, checked all the same */
  from?: 'base';
}

export interface SimulateReport {
  seed: number;
  /** where the replayed requests came from, and how many */
  recordings?: { source: string; requests: number };
  /** things a reviewer should know that do not fail the check (no recordings, say) */
  warnings?: string[];
  replay?: ReplayReport;
  /** what the head changes in the configuration that judges it (only with a base) */
  safety?: SafetyReport;
  invariants: InvariantResult[];
  passed: boolean;
  durationMs: number;
}
