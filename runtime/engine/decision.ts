/**
 * What the engine answers. A decision is self-describing: it names every rule that produced it and
 * the bundle revision, so an evidence record of it is enough to find the rule, commit and PR.
 */

export type Effect = 'allow' | 'deny' | 'review';

export type MaskStrategy = 'redact' | 'hash' | 'partial' | 'null';

export interface RuleRef {
  policy: string;
  rule: string;
  file: string;
  line: number;
}

export interface Mask {
  /**
   * column: a PostgreSQL column pattern `[schema.]table.column` with `*` globs;
   * field: a JSON path (`$.a.b`, `$..email`, `$.items[*].ssn`) for HTTP/MCP bodies;
   * secret-data: Kubernetes Secret `data`/`stringData` values;
   * content: run the content detectors (email, ssn, card, token) over every string.
   */
  kind: 'column' | 'field' | 'secret-data' | 'content';
  pattern: string;
  strategy: MaskStrategy;
  /** `classification:NAME` or `POLICY/RULE` */
  source: string;
}

export interface Revision {
  /** git commit of the policy repo, or null outside a repo */
  commit: string | null;
  dirty: boolean;
  /** sha256 of the canonical merged bundle content */
  digest: string;
}

export interface ReviewRequirement {
  rule: RuleRef;
  approverGroups: readonly string[];
  count: number;
  /** milliseconds of a just-in-time grant after approval; absent: approve this one request only */
  grantTtlMs?: number;
  grantScope?: 'rule' | 'session';
  /** the agent must state a reason before approvers are asked (runtime/gateway/stated-reason.ts) */
  requireReason?: boolean;
}

export interface Decision {
  effect: Effect;
  /** rules that produced the effect (for default deny: empty) */
  rules: readonly RuleRef[];
  masks: readonly Mask[];
  /** human-readable, for errors and reports */
  reason: string;
  revision: Revision;
  review?: ReviewRequirement;
  /** the lowest maxRows of the allow rules that matched */
  maxRows?: number;
  /**
   * Set by a gateway, never by the engine: the review was let through by this grant or one-shot
   * approval, approved by these people. The record then reads "review → allowed by grant gr-…".
   */
  approval?: {
    via: 'grant' | 'allowed-once';
    approvalId: string;
    grantId?: string;
    approvers: readonly { identity: string; note?: string }[];
  };
}

export interface SessionLimits {
  maxDurationMs?: number;
  idleTimeoutMs?: number;
}
