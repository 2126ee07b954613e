/**
 * The web console end to end in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * sign in with a real token, find a session and replay it, approve a request a gateway is holding
 * open, and see the held request go through. Screenshots land in test/.artifacts/.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { gateReview, type ReviewOutcome } from '../../runtime/approvals/gate.ts';
import { gatewayFixture, type GatewayFixture } from '../admin/gateway-fixture.ts';

const CHROMIUM = process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = 'test/.artifacts';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const available = existsSync(CHROMIUM);
if (!available) {
  console.warn(`console end-to-end test skipped: no Chromium at ${CHROMIUM}; install it with \`apt-get install -y chromium\` (.ci/run does)`);
}

let g: GatewayFixture;
let browser: Browser;
let sessionId: string;

beforeAll(async () => {
  if (!available) return;
  await mkdir(ARTIFACTS, { recursive: true });
  g = await gatewayFixture();
  sessionId = await g.recordSession('data-agent', [
    {
      sql: 'SELECT id, email, city FROM customers ORDER BY id LIMIT 2',
      sample: [
        { id: 1, email: 'hash:5f2c9a01', city: 'Lyon' },
        { id: 2, email: 'hash:77b0e1d4', city: 'Oslo' },
      ],
      maskedValues: 2,
    },
    { sql: 'DELETE FROM orders WHERE id = 42' },
  ]);
  await g.recordSession('support-agent', [{ sql: 'SELECT id, status FROM orders LIMIT 1', sample: [{ id: 1, status: 'paid' }] }]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(g.admin.url);
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-name').waitFor();
}

describe.skipIf(!available)('web console in Chromium', () => {
  it('signs in, filters sessions and replays one with decisions, rules, commit and the masked sample', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(g.admin.url);
    await page.locator('#token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#signin-error').textContent()).toMatch(/token/i);

    await signIn(page, await g.token('alice'));
    expect(await page.locator('#who-name').textContent()).toBe('alice (dba, finance)');
    await page.locator('.item.session').first().waitFor();
    expect(await page.locator('.item.session').count()).toBe(2);

    await page.locator('#session-filters input[name=agent]').fill('data-agent');
    await page.locator('#session-filters select[name=effect]').selectOption('review');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('.item.session').count()).toBe(1);
    await page.screenshot({ path: `${ARTIFACTS}/console-sessions.png`, fullPage: true });

    await page.locator(`.item.session[data-session="${sessionId}"] a.title`).click();
    await page.locator('#timeline li').nth(1).waitFor();
    const first = page.locator('#timeline li').first();
    expect(await first.locator('.pill').textContent()).toBe('allow');
    expect(await first.locator('.stmt').textContent()).toBe('SELECT id, email, city FROM customers ORDER BY id LIMIT 2');
    // Evidence stores canonical JSON, so a sample row's columns come back in name order.
    expect(await first.locator('.sample th').allTextContents()).toEqual(['city', 'email', 'id']);
    expect(await first.locator('.sample td').allTextContents()).toEqual(['Lyon', 'hash:5f2c9a01', '1', 'Oslo', 'hash:77b0e1d4', '2']);
    const second = page.locator('#timeline li').nth(1);
    expect(await second.locator('.pill').textContent()).toBe('review');
    expect(await second.textContent()).toContain('data-maintenance/deletes-need-dba');
    const commit = g.bundle.revision.commit?.slice(0, 7) ?? g.bundle.revision.digest.slice(0, 12);
    expect(await second.textContent()).toContain(`policy ${commit}`);
    await page.screenshot({ path: `${ARTIFACTS}/console-session-replay.png`, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('approves a request a gateway holds open, which then goes through', async () => {
    const [request] = buildRequests(g.bundle, { as: 'data-agent', target: 'shop-db', sql: 'DELETE FROM orders WHERE id = 42' }) as [Request];
    const decision = decide(g.bundle, request);
    const review = { rule: decision.review!.rule, approverGroups: decision.review!.approverGroups, count: 1 };
    const input = { subject: request.subject, sessionId, target: 'shop-db', request, decision: { ...decision, review } };
    // What the PostgreSQL gateway does with a review decision: hold the statement while approvers decide.
    const held: Promise<ReviewOutcome> = gateReview(g.approvals, input, { holdMs: 25_000, reason: 'ticket 4411' });
    await expect.poll(async () => (await g.approvals.list({ status: 'pending' })).length).toBe(1);
    const [pending] = await g.approvals.list({ status: 'pending' });

    // Phone-sized: the queue must be usable there too.
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await signIn(page, await g.token('alice'));
    await page.locator('nav a[data-view=approvals]').click();
    const item = page.locator(`.item.approval[data-approval="${pending!.id}"]`);
    await item.waitFor();
    expect(await item.locator('.stmt').textContent()).toBe('DELETE FROM orders WHERE id = 42');
    expect(await item.textContent()).toContain('Reason given: ticket 4411');
    expect(await page.locator('#pending-badge').textContent()).toBe('1');
    await page.screenshot({ path: `${ARTIFACTS}/console-approvals-phone.png`, fullPage: true });

    await item.locator('input').fill('order 42 is a duplicate');
    await item.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.locator('#flash').textContent()).toContain(`${pending!.id}: approved`);
    const outcome = await held;
    expect(outcome).toMatchObject({ allowed: true, via: 'allowed-once', approvalId: pending!.id });
    expect((await g.approvals.get(pending!.id))?.approvals).toEqual([expect.objectContaining({ identity: 'alice', note: 'order 42 is a duplicate' })]);
    await page.screenshot({ path: `${ARTIFACTS}/console-approved-phone.png`, fullPage: true });
    await page.close();
  });

  it('does not offer approve to the requester or to someone outside the approver groups, and shows bundle history', async () => {
    const [request] = buildRequests(g.bundle, { as: 'data-agent', target: 'shop-db', sql: 'DELETE FROM orders WHERE id = 43' }) as [Request];
    const decision = decide(g.bundle, request);
    const pending = await g.approvals.request({ subject: request.subject, sessionId, target: 'shop-db', request, decision });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page, await g.token('bob'));
    await page.goto(`${g.admin.url}/#/approvals/${pending.id}`);
    const item = page.locator(`.item.approval[data-approval="${pending.id}"]`);
    await item.waitFor();
    expect(await item.locator('button').count()).toBe(0);
    // Why there are no buttons, and that the agent gave no reason.
    expect(await item.locator('.why-not').textContent()).toMatch(/You \(bob\) cannot decide this: it needs 1 of dba, and you are in /);
    expect(await item.locator('.reason').textContent()).toBe('No reason given by the agent.');
    await page.locator('nav a[data-view=bundles]').click();
    await page.locator('.item.bundle').nth(1).waitFor();
    expect(await page.locator('.item.bundle .pill').allTextContents()).toEqual(['rejected', 'loaded']);
    // what the loaded bundle changed, and the pull request that brought it
    const loaded = page.locator('.item.bundle').nth(1);
    expect(await loaded.locator('a.pr').textContent()).toBe('PR #42');
    expect(await loaded.locator('a.pr').getAttribute('href')).toBe('https://github.com/acme/policies/pull/42');
    expect(await loaded.locator('.changes summary').textContent()).toMatch(/^rules \+\d+; documents \+\d+$/);
    await loaded.locator('.changes summary').click();
    expect(await loaded.locator('.change-list').textContent()).toContain('added rule support-read/read-shop');
    await page.screenshot({ path: `${ARTIFACTS}/console-bundles.png`, fullPage: true });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("portcullis.token")')).toBeNull();
    await page.close();
  });
});
