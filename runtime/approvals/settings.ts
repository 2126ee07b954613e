/** The options both approval services take, and their defaults in one place. */
import type { EvidenceStore } from '../evidence/store.ts';
import type { ApprovalNotifier } from './types.ts';

export interface ApprovalServiceOptions {
  /** the gateway's evidence store (a service never opens its own: one writer per replica) */
  evidence: Pick<EvidenceStore, 'append'>;
  notifier?: ApprovalNotifier;
  /** how long a request waits for approvers; default 15 minutes */
  requestTtlMs?: number;
  /** how long an approved one-shot request may be retried before it lapses; default 15 minutes */
  approvedUseTtlMs?: number;
  /** how often lapsed requests and grants are recorded as expired; default 1 s */
  sweepIntervalMs?: number;
  /** decided requests and ended grants are deleted after this; default 7 days */
  retainMs?: number;
  now?: () => number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export function serviceSettings(o: ApprovalServiceOptions) {
  return {
    evidence: o.evidence,
    notifier: o.notifier,
    now: o.now ?? Date.now,
    log: o.log ?? (() => {}),
    requestTtlMs: o.requestTtlMs ?? 15 * 60_000,
    approvedUseTtlMs: o.approvedUseTtlMs ?? 15 * 60_000,
    sweepIntervalMs: o.sweepIntervalMs ?? 1000,
    retainMs: o.retainMs ?? 7 * 24 * 3600_000,
  };
}
