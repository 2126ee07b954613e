import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookNotifier } from '../../runtime/approvals/webhook.ts';
import { alice, fixture, type Fixture } from './helpers.ts';

interface Received {
  contentType: string | undefined;
  body: { text: string; blocks?: unknown[] };
}

async function receiver(status = 200): Promise<{ url: string; received: Received[]; server: Server; hits: () => number }> {
  const received: Received[] = [];
  let hits = 0;
  const server = createServer((req: IncomingMessage, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (status === 200) received.push({ contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/B000`, received, server, hits: () => hits };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let f: Fixture;
let server: Server | undefined;
afterEach(async () => {
  await f?.close();
  await new Promise((r) => server?.close(r) ?? r(undefined));
});

describe('approval webhook', () => {
  it('POSTs Slack-compatible JSON for a new request and for its outcome', async () => {
    const hook = await receiver();
    server = hook.server;
    f = await fixture({ notifier: new WebhookNotifier({ url: hook.url, consoleUrl: 'http://127.0.0.1:6480/' }) });
    const r = await f.service.request({ ...(await f.ask('DELETE FROM orders WHERE id = 7')), reason: 'ticket <4411>' });
    await until(() => hook.received.length === 1);
    const [asked] = hook.received;
    expect(asked?.contentType).toBe('application/json');
    expect(asked?.body.text).toContain(`Approval needed (${r.id})`);
    expect(asked?.body.text).toContain('data-agent');
    expect(asked?.body.text).toContain('DELETE FROM orders WHERE id = 7');
    expect(asked?.body.text).toContain('data-maintenance/deletes-need-dba');
    expect(asked?.body.text).toContain('ticket &lt;4411&gt;');
    expect(asked?.body.text).toContain(`http://127.0.0.1:6480/#/approvals/${r.id}`);
    expect(Array.isArray(asked?.body.blocks)).toBe(true);

    await f.service.approve(r.id, alice);
    await until(() => hook.received.length === 2);
    expect(hook.received[1]?.body.text).toMatch(new RegExp(`^Approved \\(${r.id}\\) by alice: data-agent on shop-db, grant for rule`));

    const r2 = await f.service.request(await f.ask('DELETE FROM orders WHERE id = 8', { review: { grantTtlMs: undefined, grantScope: undefined } }));
    await f.service.deny(r2.id, alice, 'wrong order');
    await until(() => hook.received.length === 4);
    expect(hook.received[3]?.body.text).toBe(`Denied (${r2.id}) by alice: data-agent on shop-db. Reason: wrong order`);
  });

  it('announces expiry, and a failing webhook never blocks the approval', async () => {
    const hook = await receiver(500);
    server = hook.server;
    const logged: string[] = [];
    f = await fixture({ requestTtlMs: 1000, notifier: new WebhookNotifier({ url: hook.url, retries: 1 }), log: (e) => logged.push(e) });
    const r = await f.service.request(await f.ask('DELETE FROM orders WHERE id = 7'));
    f.clock.now += 1001;
    await f.service.sweep();
    expect((await f.service.get(r.id))?.status).toBe('expired');
    await until(() => logged.filter((e) => e === 'approvals.notify.failed').length === 2);
    expect(hook.hits()).toBe(4); // two events, each tried twice
  });

  it('rejects a URL that is not http(s)', () => {
    expect(() => new WebhookNotifier({ url: 'file:///etc/passwd' })).toThrow(/http/);
  });
});
