/**
 * What the HTTP and Kubernetes listener needs from the gateway: the shared GatewayContext
 * (runtime/gateway/context.ts) minus nothing it does not use, stated structurally so tests can build
 * one from real parts without the whole gateway.
 */
import type { Bundle } from '../bundle/model.ts';
import type { Subject } from '../engine/request.ts';
import type { ExchangeRecorder, SessionRecorder as ResultRecorder } from '../exchange/index.ts';

export interface ListenerSubject extends Subject {
  kind?: 'agent' | 'human';
  tokenSubject?: string;
  issuer?: string;
  expiresAt?: Date;
}

/** decisions through the exchange core; sessions and results through its results.ts */
export type SessionRecorder = ExchangeRecorder & ResultRecorder;

export interface ListenerContext {
  /** the live bundle, or undefined when none is valid (every request is then refused) */
  bundle(): Bundle | undefined;
  /** verify a bearer token and map it to an identity; throws PortcullisError `unauthenticated` */
  authenticate(token: string): Promise<ListenerSubject>;
  recorder: SessionRecorder;
  now(): Date;
  log(event: string, fields?: Record<string, unknown>): void;
  approvals?: import('../approvals/types.ts').ApprovalService;
  reviewHoldMs?: number;
  metrics?: import('../metrics/gateway.ts').GatewayMetrics;
}
