/**
 * The backend goes away (the balancer in front of it stops listening and cuts every connection, as
 * a restart or a failover would) and comes back: agents get a clear error, the gateway serves again
 * without a restart.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../replicas/tcp-balancer.ts';
import { failure, harnessBackend, startGateway, type Gateway } from './fixture.ts';

let gw: Gateway | undefined;
let lb: Balancer | undefined;
afterAll(async () => {
  await gw?.close();
  await lb?.close();
});

describe('backend down', () => {
  it('ends open sessions with a FATAL, refuses new ones clearly, and recovers without a restart', async () => {
    const backend = harnessBackend();
    lb = await startBalancer([{ host: backend.host, port: backend.port }]);
    gw = await startGateway({ backend: { ...backend, port: lb.port } });

    const session = await gw.connect();
    expect((await session.query('select count(*)::int as n from products')).rows[0].n).toBeGreaterThan(0);
    const lost = new Promise<{ code?: string; severity?: string; message: string }>((resolve) => session.on('error', resolve));

    await lb.down();
    const ended = await lost;
    expect(ended).toMatchObject({ code: '08006', severity: 'FATAL', message: 'portcullis: the backend closed the connection' });

    const refused = await failure(gw.connect());
    expect(refused).toMatchObject({ code: '08006', severity: 'FATAL', message: "portcullis: target 'shop-db' is unavailable right now", hint: 'retry later; the gateway logs the cause' });
    // the cause is the gateway's to log, not the agent's to see (it would name the backend's address)
    expect(refused.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    expect(gw.logs.some((l) => l.event === 'postgres.backend.unavailable')).toBe(true);

    await lb.up();
    const again = await gw.connect();
    expect((await again.query('select count(*)::int as n from products')).rows[0].n).toBeGreaterThan(0);
    // masking still works: the catalog connection came back too
    const row = (await again.query('select email from customers limit 1')).rows[0];
    expect(row.email).not.toMatch(/^[^*]+@[^*]+\.[a-z]+$/);
  });
});
