/**
 * What the agent is told when a review does not let it through: that nothing ran, whether approvers
 * had the chance (held and nobody decided in time), and what to do next; and a rule that requires a
 * stated reason refuses at once without one, unless a grant already covers the request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gateReview } from '../../runtime/approvals/gate.ts';
import { alice, fixture, type Fixture } from './helpers.ts';

let f: Fixture;
afterEach(async () => {
  await f?.close();
});

describe('review wording', () => {
  it('held and nobody decided: the statement was not run, the approval stays open, send it again once approved', async () => {
    f = await fixture();
    const input = await f.ask('DELETE FROM orders WHERE id = 7');
    const out = await gateReview(f.service, input, { holdMs: 50 });
    if (out.allowed) throw new Error('unexpected');
    expect(out.error.code).toBe('review_required');
    expect(out.error.message).toMatch(/^the statement was not run: no approver decided within 50ms, waiting for approval ap-[0-9a-f]+: needs 1 of dba \(rule data-maintenance\/deletes-need-dba\)$/);
    expect(out.error.details.hint).toMatch(
      /^approval ap-[0-9a-f]+ stays open until 20\d\d-.*; once an approver approves it \(`portcullis approvals approve ap-[0-9a-f]+` or the console\), send the same request again: the approval opens a grant, and the same request goes through$/,
    );
  });

  it('answered at once (no hold): says nothing ran, without claiming anyone was asked in time', async () => {
    f = await fixture();
    const input = await f.ask('DELETE FROM orders WHERE id = 8', { review: { grantTtlMs: undefined, grantScope: undefined } });
    const out = await gateReview(f.service, input, { holdMs: 0 });
    if (out.allowed) throw new Error('unexpected');
    expect(out.error.message).toMatch(/^the statement was not run: waiting for approval ap-/);
    expect(out.error.details.hint).toMatch(/send the same request again: the same request goes through once$/);
  });

  it('requireReason: refused at once without a reason, no approval opened; a live grant needs none', async () => {
    f = await fixture();
    const input = await f.ask('DELETE FROM orders WHERE id = 9', { review: { requireReason: true } });
    const bare = await gateReview(f.service, input, { holdMs: 0 });
    if (bare.allowed) throw new Error('unexpected');
    expect(bare.error.code).toBe('permission_denied');
    expect(bare.error.message).toBe('rule data-maintenance/deletes-need-dba needs a stated reason before it asks approvers; nothing was run and no approval was requested');
    expect(bare.error.details.hint).toMatch(/SET portcullis\.reason/);
    expect(await f.service.list({})).toEqual([]);

    const asked = await gateReview(f.service, input, { holdMs: 0, reason: 'ticket 12' });
    if (asked.allowed) throw new Error('unexpected');
    expect(asked.approval?.reason).toBe('ticket 12');
    await f.service.approve(asked.approval!.id, alice);
    // the grant covers the next delete of the same agent; no reason is asked again
    const later = await f.ask('DELETE FROM orders WHERE id = 10', { review: { requireReason: true } });
    expect(await gateReview(f.service, later, { holdMs: 0 })).toMatchObject({ allowed: true, via: 'grant' });
  });
});
