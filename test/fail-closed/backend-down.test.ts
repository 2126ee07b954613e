/**
 * The backend goes away (the balancer in front of it stops listening and cuts every connection, as
 * a restart or a failover would) and comes back: agents get a clear error, the gateway serves again
 * without a restart.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../replicas/tcp-balancer.ts';
import { startLoggedBackend, type LoggedBackend } from '../replicas/backend.ts';
import { failure, harnessBackend, startGateway, type Gateway } from './fixture.ts';

let gw: Gateway | undefined;
let lb: Balancer | undefined;
let fastGw: Gateway | undefined;
let own: LoggedBackend | undefined;
afterAll(async () => {
  await gw?.close();
  await lb?.close();
  await fastGw?.close();
  await own?.stop();
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

  it("a fast shutdown of the backend (pg_ctl stop -m fast) reaches the agent as PostgreSQL's own 57P01, once", async () => {
    own = await startLoggedBackend();
    const { server } = own;
    fastGw = await startGateway({ backend: { host: server.host, port: server.port, database: 'shop', user: server.user, password: server.password } });
    const session = await fastGw.connect();
    expect((await session.query('select count(*)::int as n from products')).rows[0].n).toBeGreaterThan(0);
    const errors: { code?: string; severity?: string; message: string }[] = [];
    session.on('error', (e) => errors.push(e));
    // the connection's end: everything the gateway sent has arrived by then
    const ended = new Promise<void>((resolve) => session.once('end', () => resolve()));
    await server.stop();
    await ended;
    // node-postgres adds its own "Connection terminated unexpectedly" when the socket closes, as it
    // does against PostgreSQL itself; the errors the server sent are the ones with a severity
    const sent = errors.filter((e) => e.severity !== undefined).map((e) => `${e.severity} ${e.code} ${e.message}`);
    expect(sent).toEqual(['FATAL 57P01 terminating connection due to administrator command']);
  }, 120_000);
});
