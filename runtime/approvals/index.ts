/** Approvals and just-in-time grants: the public surface the gateways and the admin server use. */
export * from './types.ts';
export { FileApprovalService, type FileApprovalServiceOptions } from './file-service.ts';
export { WebhookNotifier, webhookMessage, type WebhookNotifierOptions, type WebhookMessage } from './webhook.ts';
export { gateReview, type ReviewGateOptions, type ReviewOutcome } from './gate.ts';
export { requestHash, normalizedRequest, summarize } from './request-hash.ts';
export { assertMayDecide } from './rules.ts';
export { readState, statePath, type ApprovalState } from './state-file.ts';
export { combineNotifiers } from './notifiers.ts';
