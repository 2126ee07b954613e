/**
 * What every protocol listener (PostgreSQL, HTTP, Kubernetes, MCP) shares. Listeners never hold a
 * bundle themselves: they ask `bundle()` at the moment of each decision, so a hot reload takes effect
 * for the next request and every decision is stamped with the revision that made it. It is also what
 * the exchange core (runtime/exchange) runs every request with: its recorder, approvals, review hold
 * and metrics are the ExchangeEnv every protocol shares.
 */
import type { Bundle } from '../bundle/model.ts';
import type { ApprovalService } from '../approvals/types.ts';
import type { GatewayMetrics } from '../metrics/gateway.ts';
import type { Subject } from '../engine/request.ts';

export interface AuthenticatedSubject extends Subject {
  kind: 'agent' | 'human';
  /** token subject and issuer, for evidence */
  tokenSubject: string;
  issuer: string;
  expiresAt: Date;
}

export interface GatewayContext {
  /** the live bundle, or undefined when none is valid (then every request is refused) */
  bundle(): Bundle | undefined;
  /** verify a bearer token and map it to an Identity of the live bundle; throws `unauthenticated` */
  authenticate(token: string): Promise<AuthenticatedSubject>;
  /** the session recorder writing through the evidence store (audit before action) */
  recorder: import('../recording/recorder.ts').Recorder;
  /** current time; tests may pin it */
  now(): Date;
  log(event: string, fields?: Record<string, unknown>): void;
  /** the review flow; without it a `review` decision refuses */
  approvals?: ApprovalService;
  /** how long a gateway holds a request waiting for approvers (0: answer at once with the approval id) */
  reviewHoldMs?: number;
  metrics?: GatewayMetrics;
  /**
   * A standing condition an operator should see on /readyz that does not make the gateway unready
   * (a classified column renamed behind the policy); one note per key.
   */
  note?(key: string, text: string): void;
}
