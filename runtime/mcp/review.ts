/**
 * The one place a `review` decision of an MCP request is settled: the gateways' shared review flow
 * (runtime/gateway/review.ts) opens or finds the approval request, holds the call for the configured
 * time, and lets an approved call or a live grant through.
 */
import type { Decision } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { PortcullisError } from '../errors.ts';
import { refusalOf } from '../http/problem.ts';
import { settleReview as settle, type ReviewSettings } from '../gateway/review.ts';

export async function settleReview(settings: ReviewSettings, sessionId: string, request: Request, decision: Decision, reason?: string): Promise<PortcullisError | undefined> {
  return settle(settings, { subject: request.subject, sessionId, target: request.target, request, decision, ...(reason ? { reason } : {}) }, () => refusalOf(decision));
}
