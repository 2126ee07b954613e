/**
 * The safety configuration of a policy repo is what judges a pull request: invariants, gates, the
 * recordings, suppressions, policy tests, `maxGrantTtl`, `coverageThreshold`, and who owns them.
 * A change to any of it is reported as a change of its own; one that weakens the judge needs the
 * repo's designated owners to approve.
 */

export const SafetyChangeKinds = [
  'invariant-removed',
  'invariant-changed',
  'invariant-added',
  'suppression-added',
  'setting-changed',
  'recordings-reduced',
  'recordings-added',
  'test-removed',
  'test-changed',
  'test-added',
  'owners-changed',
] as const;
export type SafetyChangeKind = (typeof SafetyChangeKinds)[number];

export interface SafetyChange {
  kind: SafetyChangeKind;
  /** true when the change makes the check more lenient: it needs the owners' approval */
  weakens: boolean;
  /** one sentence a reviewer reads */
  message: string;
  /** where it shows in the head (for removals: the base file) */
  file: string;
  line: number;
}

export interface OwnerApproval {
  /** the owners CODEOWNERS of the base revision names for the safety files */
  owners: string[];
  /** owners (or members of owner teams) who approved the pull request's current head commit */
  approvedBy: string[];
  /** why approval could not be established, when it could not */
  problem?: string;
}

export interface SafetyReport {
  base: string;
  changes: SafetyChange[];
  /** weakening changes exist and no designated owner approved them */
  failed: boolean;
  approval?: OwnerApproval;
}
