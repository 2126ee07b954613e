/**
 * The one place a `review` decision of an MCP request is settled. Approvals are not wired into the
 * listeners yet, so this refuses with the rule, approver groups and commit; when they are, this
 * becomes `gateReview(approvals, input, { holdMs })` (runtime/approvals/gate.ts): `allowed: true`
 * returns undefined and the call goes ahead as an allow, otherwise its `error` is returned.
 */
import type { Decision } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { PortcullisError } from '../errors.ts';
import { refusalOf } from '../http/problem.ts';

export async function settleReview(_request: Request, decision: Decision): Promise<PortcullisError | undefined> {
  return refusalOf(decision);
}
