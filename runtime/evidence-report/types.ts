/**
 * What `portcullis evidence report` says about each policy commit. The JSON renderer writes this
 * shape as is, so it is the contract auditors' tooling reads: fields are added, never renamed.
 */
import type { Effect } from '../engine/decision.ts';

export const REPORT_VERSION = 1;

export type EffectCounts = Record<Effect, number>;

export interface LiveWindow {
  /** ts of the bundle.loaded record that made the revision live */
  from: string;
  /** absent: still live at the end of the log */
  to?: string;
  /**
   * what ended it: another revision loaded, the gateway stopped (its gateway.stopped record), or it
   * restarted without a stop record, e.g. killed (then the last record before the restart)
   */
  endedBy?: 'reload' | 'stop' | 'restart';
  /** evidence seq of the bundle.loaded record */
  loadedSeq: number;
}

export interface TargetCounts extends EffectCounts {
  target: string;
  total: number;
}

export interface RuleCount {
  /** `policy/rule`, or `(default deny)` when no rule matched */
  rule: string;
  file?: string;
  line?: number;
  count: number;
}

export interface ReviewAllowed {
  ts: string;
  identity: string;
  target: string;
  request: string;
  /** "review → allowed by grant gr-… of approval ap-… (approved by alice: note)" */
  outcome: string;
}

export interface Denial {
  ts: string;
  evidenceSeq: number;
  sessionId: string;
  seq: number;
  identity: string;
  target: string;
  /** the request in the CLI's words (`select ...`, `DELETE /x`, `delete pods web -n shop`) */
  request: string;
  rules: string[];
  reason: string;
}

export interface ApprovalEntry {
  id: string;
  requestedAt: string;
  requester: string;
  target: string;
  summary: string;
  rule: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  approvers: string[];
  decidedAt?: string;
  denialReason?: string;
  /** what each approver wrote when approving (or denying) */
  notes: { approver: string; at: string; note: string }[];
}

export interface GrantEntry {
  id: string;
  approvalId: string;
  identity: string;
  target: string;
  rule: string;
  scope: string;
  openedAt: string;
  expiresAt: string;
  endedAt?: string;
  endReason?: string;
  /**
   * the review decisions the grant let through: the grantee's decisions on the grant's target by the
   * grant's rule while it was open (in its session, for a session grant); the most recent are listed
   */
  covered: { total: number; decisions: { ts: string; evidenceSeq: number; sessionId: string; seq: number; request: string }[] };
}

export interface Reviewer {
  login: string;
  /** the reviewer's last state: APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED */
  state: string;
  submittedAt?: string;
}

export interface PullRequestInfo {
  number: number;
  title: string;
  url: string;
  author?: string;
  state: string;
  mergedAt?: string;
  mergeCommit?: string;
  baseRef?: string;
  reviewers: Reviewer[];
}

export type PullRequestLookup = { status: 'found'; pullRequest: PullRequestInfo; cached: boolean } | { status: 'none'; cached: boolean; note: string } | { status: 'unavailable'; note: string };

export interface CommitReport {
  /** the commit SHA; for a work tree with uncommitted changes `SHA+dirty:DIGEST`, outside git `uncommitted:DIGEST` */
  key: string;
  commit: string | null;
  dirty: boolean;
  /** sha256 of the merged bundle content, as stamped on decisions */
  digests: string[];
  live: {
    windows: LiveWindow[];
    firstDecision?: string;
    lastDecision?: string;
  };
  decisions: {
    total: number;
    byEffect: EffectCounts;
    byTarget: TargetCounts[];
  };
  topDenyingRules: RuleCount[];
  denials: { total: number; shown: Denial[]; truncated: boolean };
  /** review decisions a grant or an approval let through, most recent last */
  reviewsAllowed: { total: number; shown: ReviewAllowed[] };
  approvals: {
    requested: number;
    approved: number;
    denied: number;
    expired: number;
    pending: number;
    /** one-shot approvals an agent then used */
    consumed: number;
    list: ApprovalEntry[];
  };
  grants: { opened: number; expired: number; list: GrantEntry[] };
  masking: {
    /** sum of result.maskedValues of the decisions stamped with this commit */
    maskedValues: number;
    /** results (executed requests) joined to those decisions */
    results: number;
    /** results in which at least one value was masked */
    resultsWithMasking: number;
  };
  sessions: { count: number; identities: string[] };
  /** absent when GitHub is not configured, or the revision has no commit */
  pullRequest?: PullRequestLookup;
  /**
   * what an auditor should look at: `merged-over-changes-requested` (a reviewer's "changes
   * requested" still stood when the pull request was merged)
   */
  flags: { kind: 'merged-over-changes-requested'; message: string; reviewers: string[] }[];
  /** who may do what under this commit's bundle; absent when the bundle at the commit could not be loaded */
  accessReview?: AccessReview;
}

/** The rules of one commit's bundle, as subjects × targets × actions with their effects and masks. */
export interface AccessReview {
  /** where the bundle was read from, or why it could not be */
  source: string;
  entries: AccessEntry[];
}

export interface AccessEntry {
  /** `policy/rule` */
  rule: string;
  effect: 'allow' | 'deny' | 'review';
  /** identities and groups (`group:NAME`) the policy applies to */
  subjects: string[];
  /** target names, or the label selector the policy uses */
  targets: string[];
  actions: string[];
  resources: string[];
  /** what is masked when the rule lets a request through: its own masks, then the targets' classifications */
  masks: string[];
  /** for review: who approves, how many */
  approvers?: string;
}

/** How the log verified when the report was built: it comes first, an auditor reads it before the rest. */
export type ReportVerification =
  | {
      status: 'verified' | 'failed';
      records: number;
      checkpoints: number;
      lastCheckpointSeq: number;
      unsignedTail: number;
      firstProblem?: { seq: number; kind: string; message: string };
      witness?: { path: string; state: string; message: string; lastWitnessedSeq?: number; lastWitnessedAt?: string };
      /** which keys were trusted */
      keys: string;
    }
  | { status: 'not-verified'; reason: string };

export interface GithubStatus {
  configured: boolean;
  repository?: string;
  /** why PR information is present, partial or absent */
  note: string;
  /** REST calls this report made; 0 when every commit came from the cache */
  apiCalls: number;
  cacheFile?: string;
}

export interface EvidenceReport {
  version: typeof REPORT_VERSION;
  /** the verification of the log, first */
  verification: ReportVerification;
  generatedAt: string;
  source: { evidenceDir: string; records: number; firstTs?: string; lastTs?: string };
  filter: { commit?: string; since?: string };
  github: GithubStatus;
  totals: {
    commits: number;
    decisions: number;
    byEffect: EffectCounts;
    denials: number;
    maskedValues: number;
    sessions: number;
    approvalsRequested: number;
    bundlesRejected: number;
  };
  /** in the order the commits first went live (or were first seen on a decision) */
  commits: CommitReport[];
  /** approval and grant records whose request is not in the log (cut, rotated, or before --since) */
  unattributed: { approvalEvents: number; grantEvents: number; results: number };
}
