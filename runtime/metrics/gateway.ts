/**
 * The gateway's own metrics, one object every listener and the runtime write to. Target is a label
 * (targets are few and named in policy); identities and statements never are, since they would make
 * unbounded series and could leak what agents do to whoever scrapes the admin port.
 */
import type { ApprovalNotifier } from '../approvals/types.ts';
import { Registry, type Counter, type Histogram } from './registry.ts';

export interface GatewayMetricsOptions {
  /** read at scrape time, e.g. () => approvals.pendingCount() */
  pendingApprovals?: () => Promise<number> | number;
  /** read at scrape time: open sessions */
  activeSessions?: () => number;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly decisions: Counter;
  readonly decisionSeconds: Histogram;
  readonly maskedValues: Counter;
  readonly reloads: Counter;
  readonly approvals: Counter;
  readonly catalogDrift: Counter;

  constructor(opts: GatewayMetricsOptions = {}) {
    const r = this.registry;
    this.decisions = r.counter('portcullis_decisions_total', 'Requests decided, by effect and target.', ['effect', 'target', 'protocol']);
    this.decisionSeconds = r.histogram('portcullis_decision_duration_seconds', 'Time from a request parsed to its decision durable in evidence.', ['protocol'], LATENCY_BUCKETS);
    this.maskedValues = r.counter('portcullis_masked_values_total', 'Values masking replaced before they reached an agent.', ['target']);
    this.reloads = r.counter('portcullis_bundle_reloads_total', 'Policy bundle loads, by result (ok or rejected).', ['result']);
    this.approvals = r.counter('portcullis_approvals_total', 'Approval requests by outcome (requested, approved, denied, expired).', ['outcome']);
    this.catalogDrift = r.counter('portcullis_catalog_drift_total', 'Classified PostgreSQL columns now known by another name (renamed, moved); still masked under the old one.', ['target']);
    r.gauge('portcullis_approvals_pending', 'Approval requests waiting for approvers.', [], opts.pendingApprovals ?? (() => 0));
    if (opts.activeSessions) r.gauge('portcullis_sessions_active', 'Open agent sessions.', [], opts.activeSessions);
  }

  /** One call per decided request; `durationMs` from parse to durable decision record. */
  observeDecision(d: { effect: string; target: string; protocol: string; durationMs: number }): void {
    this.decisions.inc({ effect: d.effect, target: d.target, protocol: d.protocol });
    this.decisionSeconds.observe(d.durationMs / 1000, { protocol: d.protocol });
  }

  observeMasked(target: string, count: number): void {
    if (count > 0) this.maskedValues.inc({ target }, count);
  }

  observeCatalogDrift(target: string): void {
    this.catalogDrift.inc({ target });
  }

  observeReload(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'ok' : 'rejected' });
  }

  /** Give this to the approval service (with combineNotifiers) to count approval outcomes. */
  approvalNotifier(): ApprovalNotifier {
    return { notify: async (event) => this.approvals.inc({ outcome: event.kind }) };
  }

  render(): Promise<string> {
    return this.registry.render();
  }
}
