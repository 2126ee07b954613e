/** Issue 16 item 5: what the replay and the invariant search report is what the gateway would do. */
import fc from 'fast-check';
import { loadModule, parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { simulate } from '../../runtime/simulate/run.ts';
import { sqlFor } from '../../runtime/simulate/sample.ts';
import { StatementClasses } from '../../runtime/engine/request.ts';
import type { RecordedRequest } from '../../runtime/recording/format.ts';
import { record, tempRepo, writeRecordings } from './helpers.ts';

beforeAll(async () => {
  await loadModule();
});

const readShop = 'resources: [orders, customers, customer_contacts, products]';

describe('replay fidelity', () => {
  it('repeats a refusal the gateway made after the rules (mask safety) instead of reporting allow -> deny', async () => {
    const repo = await tempRepo();
    const recs = await record(repo.dir, [{ as: 'support-agent', target: 'shop-db', sql: 'select name, email from customers' }]);
    // As the PostgreSQL gateway records it when the masking of a statement cannot be proven safe.
    const refused: RecordedRequest[] = recs.map((r) => ({
      ...r,
      decision: { ...r.decision, effect: 'deny', reason: 'refused by masking: customers.email is read through a function the gateway cannot mask' },
    }));
    await writeRecordings(repo.dir, refused);
    const base = repo.commit('a refused request');
    await repo.edit('policies/support.yaml', (t) => t.replace(readShop, 'resources: [orders, products]'));
    const unchanged = await simulate({ dir: repo.dir, base, seed: 1, runs: 20 });
    expect(unchanged.replay!.groups.every((g) => g.count === 0)).toBe(true);
    expect(unchanged.replay!.unchanged).toBe(1);
    repo.git('checkout', '-q', '--', '.');
    // With other masks the refusal may not repeat: that shows, as the exposure it may be.
    await repo.edit('targets/shop-db.yaml', (t) => t.replace('columns: [customers.email, customers.phone, customer_contacts.email]', 'columns: [customers.phone, customer_contacts.email]'));
    const changed = await simulate({ dir: repo.dir, base, seed: 1, runs: 20 });
    expect(changed.replay!.groups.find((g) => g.kind === 'newlyAllowed')!.count).toBe(1);
  }, 60_000);

  it('reports a maxRows change, groups changes by cause with counts, and compares only masks a statement touches', async () => {
    const repo = await tempRepo();
    const traffic = [
      ...Array.from({ length: 7 }, (_, i) => ({ as: 'support-agent', target: 'shop-db', sql: `select id, total from orders where id = ${i}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ as: 'support-agent', target: 'shop-db', sql: `select name, email from customers where id = ${i}` })),
    ];
    await writeRecordings(repo.dir, await record(repo.dir, traffic));
    const base = repo.commit('recordings');
    await repo.edit('policies/support.yaml', (t) => t.replace('when: { maxRows: 1000 }', 'when: { maxRows: 50000 }'));
    await repo.edit('targets/shop-db.yaml', (t) => t.replace('columns: [customers.email, customers.phone, customer_contacts.email]', 'columns: [customers.phone, customer_contacts.email]'));
    const report = await simulate({ dir: repo.dir, base, seed: 1, runs: 20 });
    const raised = report.replay!.groups.find((g) => g.kind === 'limitRaised')!;
    expect(raised.count).toBe(10);
    expect(raised.buckets).toEqual([expect.objectContaining({ identity: 'support-agent', target: 'shop-db', rules: ['support-read/read-shop'], masks: ['maxRows 1000 → 50000'], count: 10 })]);
    // Only the three statements on customers lose the email mask; the seven on orders never read it.
    const removed = report.replay!.groups.find((g) => g.kind === 'maskRemoved')!;
    expect(removed.count).toBe(3);
    expect(removed.buckets).toHaveLength(1);
    expect(removed.buckets[0]).toMatchObject({ count: 3, masks: ['customers.email (partial)'], file: 'targets/shop-db.yaml' });
    expect(removed.examples.every((e) => e.request.includes('customers'))).toBe(true);
  }, 60_000);

  it('warns when the recordings folder does not exist', async () => {
    const repo = await tempRepo();
    const report = await simulate({ dir: repo.dir, base: 'HEAD', seed: 1, runs: 10 });
    expect(report.warnings).toEqual([expect.stringMatching(/the recordings folder recordings does not exist, so no recorded request was replayed/)]);
  }, 60_000);

  it('reads recordings from a URL (an export of the gateway evidence outside the pull request)', async () => {
    const repo = await tempRepo();
    const recs = await record(repo.dir, [{ as: 'support-agent', target: 'shop-db', sql: 'select name, email from customers' }]);
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer s3cret') return res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(recs.map((r) => JSON.stringify(r)).join('\n'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/export.jsonl`;
    try {
      await expect(simulate({ dir: repo.dir, base: 'HEAD', recordings: url, seed: 1, runs: 10 })).rejects.toThrow(/HTTP 401/);
      process.env.PORTCULLIS_RECORDINGS_TOKEN = 's3cret';
      const report = await simulate({ dir: repo.dir, base: 'HEAD', recordings: url, seed: 1, runs: 10 });
      expect(report.recordings).toEqual({ source: url, requests: 1 });
      expect(report.replay!.requests).toBe(1);
    } finally {
      delete process.env.PORTCULLIS_RECORDINGS_TOKEN;
      server.close();
    }
  }, 60_000);
});

describe('counterexamples are valid SQL', () => {
  it('for every statement class over one to three relations, reserved words and odd names included', () => {
    const name = fc.oneof(fc.constantFrom('orders', 'orders_', 'public.orders_x', 'order', 'user', 'select', 'Mixed', 'a"b', 'x.y'), fc.stringMatching(/^[a-z][a-z_]{0,7}$/));
    fc.assert(
      fc.property(fc.constantFrom(...StatementClasses), fc.array(name, { minLength: 1, maxLength: 3 }), fc.boolean(), (cls, rels, where) => {
        const sql = sqlFor(cls, [...new Set(rels)], where);
        expect(() => parseSync(sql), sql).not.toThrow();
      }),
      { numRuns: 500, seed: 16 },
    );
  });

  it('shrunk counterexamples of a delete widening parse, for ten seeds', async () => {
    const repo = await tempRepo();
    await repo.edit('policies/data.yaml', (t) => t + '    - id: purge\n      effect: allow\n      actions: [delete]\n      resources: ["public.orders_*"]\n');
    for (let seed = 1; seed <= 10; seed++) {
      const report = await simulate({ dir: repo.dir, seed, runs: 200 });
      const c = report.invariants.find((i) => i.name === 'agent-deletes-need-review')!.counterexample!;
      expect(c.request).toMatch(/^DELETE FROM /);
      expect(() => parseSync(c.request), c.request).not.toThrow();
    }
  }, 120_000);
});
