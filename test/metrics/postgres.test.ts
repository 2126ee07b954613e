/**
 * /metrics for PostgreSQL: a masked select through the gateway counts a decision and the values
 * masking replaced (the HTTP, Kubernetes and MCP suites check their own protocols).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startGatewayFixture, type GatewayFixture } from '../postgres-gateway/fixture.ts';
import { samplesOf } from './prometheus.ts';

let gw: GatewayFixture;

beforeAll(async () => {
  gw = await startGatewayFixture();
}, 120_000);

afterAll(async () => {
  await gw?.close();
});

const samples = async (render: () => Promise<string>) => samplesOf(await render());

describe('metrics for PostgreSQL', () => {
  it('count decisions and masked values', async () => {
    const c = new pg.Client(await gw.conn('tester'));
    await c.connect();
    try {
      const r = await c.query('SELECT email, ssn FROM customers ORDER BY id LIMIT 2');
      expect(r.rows).toHaveLength(2);
    } finally {
      await c.end();
    }
    const s = await samples(() => gw.runtime.metrics.render());
    expect(s.find((x) => x.name === 'portcullis_decisions_total' && x.labels.protocol === 'postgres' && x.labels.target === 'shop-db' && x.labels.effect === 'allow')?.value).toBeGreaterThan(0);
    // the result record is written after the answer: wait for the counter rather than for time
    await expect
      .poll(async () => (await samples(() => gw.runtime.metrics.render())).find((x) => x.name === 'portcullis_masked_values_total' && x.labels.target === 'shop-db')?.value ?? 0, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(4);
  });
});
