/**
 * How a review that was let through is named in its decision record and shown to a reader: which
 * grant or one-shot approval, and who approved it with what note.
 */
import type { ApprovalRequest, Coverage } from './types.ts';

export function approversOf(r: ApprovalRequest | undefined): Coverage['approvers'] {
  return (r?.approvals ?? []).map((a) => ({ identity: a.identity, ...(a.note ? { note: a.note } : {}) }));
}

/** `review → allowed by grant gr-… (approved by alice: note)`, or by a one-shot approval. */
export function describeCoverage(c: Coverage): string {
  const by = c.approvers.map((a) => (a.note ? `${a.identity}: ${a.note}` : a.identity)).join('; ');
  const what = c.via === 'grant' ? `grant ${c.grantId ?? '?'} of approval ${c.approvalId}` : `approval ${c.approvalId} (one use)`;
  return `review → allowed by ${what}${by ? ` (approved by ${by})` : ''}`;
}
