import { describe, expect, it } from 'vitest';
import { createScratchDatabase, pgClient, pgInfo } from '../harness/postgres.ts';

describe('test harness PostgreSQL', () => {
  it('is private, not the machine server on 5432', () => {
    const info = pgInfo();
    expect(info.host).toBe('127.0.0.1');
    expect(info.port).not.toBe(5432);
  });

  it('serves the sample shop data', async () => {
    const c = await pgClient();
    try {
      const { rows } = await c.query('SELECT (SELECT count(*) FROM customers)::int AS customers, (SELECT count(*) FROM orders)::int AS orders');
      expect(rows[0]).toEqual({ customers: 50, orders: 200 });
      const ada = await c.query(`SELECT email FROM customer_contacts WHERE name = 'Ada Lovelace'`);
      expect(ada.rows[0]?.email).toBe('ada.lovelace@example.com');
    } finally {
      await c.end();
    }
  });

  it('gives writable scratch copies of the sample data', async () => {
    const db = await createScratchDatabase();
    try {
      const c = await pgClient(db.name);
      await c.query('DELETE FROM orders');
      expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0]?.n).toBe(0);
      await c.end();
      const shared = await pgClient();
      expect((await shared.query('SELECT count(*)::int AS n FROM orders')).rows[0]?.n).toBe(200);
      await shared.end();
    } finally {
      await db.drop();
    }
  });
});
