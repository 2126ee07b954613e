import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import type { ApprovalRequest } from '../../runtime/approvals/types.ts';
import { gatewayFixture, type GatewayFixture } from '../admin/gateway-fixture.ts';
import { portcullis } from '../evidence-cli/cli.ts';

let g: GatewayFixture;
let alice: string;
let pending: ApprovalRequest;
let other: ApprovalRequest;

async function ask(sql: string): Promise<ApprovalRequest> {
  const [request] = buildRequests(g.bundle, { as: 'data-agent', target: 'shop-db', sql }) as [Request];
  return g.approvals.request({ subject: request.subject, sessionId: 'cli-sess', target: 'shop-db', request, decision: decide(g.bundle, request), reason: 'ticket 9' });
}

beforeAll(async () => {
  g = await gatewayFixture();
  alice = await g.token('alice');
  pending = await ask('DELETE FROM orders WHERE id = 5');
  other = await ask('DELETE FROM orders WHERE id = 6');
}, 60_000);
afterAll(async () => {
  await g?.close();
});

describe('portcullis approvals', () => {
  it('lists and shows through the admin API as the token identity', async () => {
    const list = await portcullis(['approvals', 'list', '--admin', g.admin.url, '--status', 'pending'], { PORTCULLIS_TOKEN: alice });
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain(pending.id);
    expect(list.stdout).toContain('DELETE FROM orders WHERE id = 5');
    const show = await portcullis(['approvals', 'show', pending.id, '--admin', g.admin.url, '--token', alice]);
    expect(show.stdout).toContain('rule       data-maintenance/deletes-need-dba');
    expect(show.stdout).toContain('reason     ticket 9');
    expect(show.stdout).toContain('grant 30m (rule)');
  });

  it('approves and denies, with the gateway enforcing who may', async () => {
    const bob = await portcullis(['approvals', 'approve', pending.id, '--admin', g.admin.url, '--token', await g.token('bob')]);
    expect(bob.code).toBe(1);
    expect(bob.stderr).toMatch(/bob is not in an approver group/);
    const ok = await portcullis(['approvals', 'approve', pending.id, '--note', 'fine', '--admin', g.admin.url], { PORTCULLIS_TOKEN: alice });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^approved ${pending.id}: grant gr-[0-9a-f]+ open for 30 minutes`));
    expect((await g.approvals.grants({ live: true })).length).toBe(1);

    const noReason = await portcullis(['approvals', 'deny', other.id, '--admin', g.admin.url, '--token', alice]);
    expect(noReason.code).toBe(2);
    const denied = await portcullis(['approvals', 'deny', other.id, '--reason', 'wrong order', '--admin', g.admin.url, '--token', alice, '--format', 'json']);
    expect(JSON.parse(denied.stdout).approval).toMatchObject({ status: 'denied', denial: { reason: 'wrong order' } });
  });

  it('reads the data directory without a gateway, but never decides there', async () => {
    const list = await portcullis(['approvals', 'list', '--data-dir', g.dataDir, '--format', 'json']);
    expect(
      JSON.parse(list.stdout)
        .approvals.map((a: ApprovalRequest) => a.status)
        .sort(),
    ).toEqual(['approved', 'denied']);
    const show = await portcullis(['approvals', 'show', other.id, '--data-dir', g.dataDir]);
    expect(show.stdout).toContain('denied     by alice');
    const approve = await portcullis(['approvals', 'approve', other.id, '--data-dir', g.dataDir]);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toMatch(/goes through the running gateway/);
  });

  it('says what to do without a token or a gateway', async () => {
    const noToken = await portcullis(['approvals', 'list', '--admin', g.admin.url], { PORTCULLIS_TOKEN: '' });
    expect(noToken.stderr).toMatch(/need a token of a human identity/);
    const down = await portcullis(['approvals', 'list', '--admin', 'http://127.0.0.1:1', '--token', alice]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the gateway admin API/);
  });
});
