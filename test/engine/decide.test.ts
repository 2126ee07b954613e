import { describe, expect, it } from 'vitest';
import { decide, sessionLimits } from '../../runtime/engine/decide.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { bundleOf, dbTarget, identities, pg, policy } from './helpers.ts';

const bot = ['bot', ['agents']] as const;

describe('decide', () => {
  it('denies by default and says what was not covered', () => {
    const b = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities });
    const d = decide(b, pg(...bot, 'select', [{ name: 'orders' }]));
    expect(d.effect).toBe('deny');
    expect(d.rules).toEqual([]);
    expect(d.reason).toContain('no rule allows select on public.orders for bot');
    expect(d.revision.commit).toBe('c0ffee0000000000000000000000000000000000');
  });

  it('deny beats review beats allow, whatever the order', () => {
    const rules = `    - { id: a, effect: allow, actions: [delete], resources: [orders] }
    - { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba] } } }
    - { id: d, effect: deny, actions: [delete], resources: ["*"] }
`;
    const b = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities, 'p.yaml': policy('p', rules) });
    const d = decide(b, pg(...bot, 'delete', [{ name: 'orders' }]));
    expect(d.effect).toBe('deny');
    expect(d.rules.map((r) => r.rule)).toEqual(['d']);
    const noDeny = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities, 'p.yaml': policy('p', rules.split('\n').slice(0, 2).join('\n') + '\n') });
    const r = decide(noDeny, pg(...bot, 'delete', [{ name: 'orders' }]));
    expect(r.effect).toBe('review');
    expect(r.review).toMatchObject({ approverGroups: ['dba'], count: 1 });
  });

  it('needs every relation of a statement to be allowed', () => {
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - { id: orders, effect: allow, actions: [select], resources: [orders] }\n'),
    });
    expect(decide(b, pg(...bot, 'select', [{ name: 'orders' }])).effect).toBe('allow');
    const join = decide(b, pg(...bot, 'select', [{ name: 'orders' }, { name: 'customers' }]));
    expect(join.effect).toBe('deny');
    expect(join.reason).toContain('select on public.customers');
    // another schema is another table
    expect(decide(b, pg(...bot, 'select', [{ name: 'orders', schema: 'secret' }])).effect).toBe('deny');
  });

  it('treats a read inside a write as a select on the read relation', () => {
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - { id: w, effect: allow, actions: [insert], resources: [archive] }\n'),
    });
    const req = pg(...bot, 'insert', [
      { name: 'archive', access: 'write' },
      { name: 'orders', access: 'read' },
    ]);
    const d = decide(b, req);
    expect(d.effect).toBe('deny');
    expect(d.reason).toContain('select on public.orders');
  });

  it('accumulates masks from classifications and every matching rule', () => {
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy(
        'p',
        `    - id: read
      effect: allow
      actions: [select]
      resources: [customers]
      mask: [{ columns: [customers.phone], strategy: hash }, { classifications: [pii], strategy: redact }]
`,
      ),
    });
    const d = decide(b, pg(...bot, 'select', [{ name: 'customers' }]));
    expect(d.effect).toBe('allow');
    expect(d.masks.map((m) => `${m.pattern}:${m.strategy}:${m.source}`)).toEqual(['*.customers.email:partial:classification:pii', '*.customers.email:redact:p/read', '*.customers.phone:hash:p/read']);
  });

  it('evaluates requireWhere, statement patterns, time windows and maxRows', () => {
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy(
        'p',
        `    - { id: upd, effect: allow, actions: [update], resources: [orders], when: { requireWhere: true } }
    - { id: office, effect: allow, actions: [select], resources: [orders], when: { maxRows: 10, time: { days: [mon, tue, wed, thu, fri], between: "09:00-17:00", timezone: Europe/Berlin } } }
    - { id: pat, effect: allow, actions: [select], resources: [products], when: { statementPattern: "(?i)^select id", maxRows: 5 } }
`.replace('(?i)', ''),
      ),
    });
    expect(decide(b, pg(...bot, 'update', [{ name: 'orders' }], { hasWhere: false })).reason).toContain('requires a WHERE clause');
    expect(decide(b, pg(...bot, 'update', [{ name: 'orders' }], { hasWhere: true })).effect).toBe('allow');
    // Wednesday 10:00 UTC is 11:00 in Berlin
    const inside = decide(b, pg(...bot, 'select', [{ name: 'orders' }], { at: '2026-11-25T10:00:00Z' }));
    expect(inside.effect).toBe('allow');
    expect(inside.maxRows).toBe(10);
    expect(decide(b, pg(...bot, 'select', [{ name: 'orders' }], { at: '2026-11-25T17:30:00Z' })).reason).toContain('between 09:00-17:00');
    expect(decide(b, pg(...bot, 'select', [{ name: 'orders' }], { at: '2026-11-28T10:00:00Z' })).effect).toBe('deny');
    expect(decide(b, pg(...bot, 'select', [{ name: 'products' }], { text: 'select id from products' })).effect).toBe('allow');
    expect(decide(b, pg(...bot, 'select', [{ name: 'products' }], { text: 'select * from products' })).effect).toBe('deny');
  });

  it('selects targets by label and applies the strictest session limits', () => {
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', '    - { id: s, effect: allow, actions: [select] }\n', '  sessionLimits: { maxDuration: 2h, idleTimeout: 5m }\n').replace(
        'targets: [db]',
        'targets: { labels: { env: prod } }',
      ),
      'q.yaml': policy('q', '    - { id: s, effect: allow, actions: [select] }\n', '  sessionLimits: { maxDuration: 1h }\n'),
    });
    expect(decide(b, pg(...bot, 'select', [{ name: 'x' }])).effect).toBe('allow');
    expect(sessionLimits(b, { identity: 'bot', groups: ['agents'] }, 'db')).toEqual({ maxDurationMs: 3_600_000, idleTimeoutMs: 300_000 });
    expect(sessionLimits(b, { identity: 'admin', groups: ['dba'] }, 'db')).toEqual({});
  });

  it('refuses requests to unknown targets or of the wrong protocol', () => {
    const b = bundleOf({ 't.yaml': dbTarget, 'i.yaml': identities });
    expect(decide(b, pg(...bot, 'select', [], { target: 'nope' })).reason).toContain("unknown target 'nope'");
    const http = decide(b, { protocol: 'http', subject: { identity: 'bot', groups: [] }, target: 'db', at: '2026-01-01T00:00:00Z', method: 'GET', path: '/', query: {} });
    expect(http.effect).toBe('deny');
    expect(http.reason).toContain('is postgres, not http');
  });
});

describe('the example policy repo', async () => {
  const bundle = await loadBundle('policies');
  const one = (spec: Parameters<typeof buildRequests>[1]) => decide(bundle, buildRequests(bundle, spec)[0]!);

  it('masks what support reads, refuses its writes and DDL for everyone', () => {
    const read = one({ as: 'support-agent', target: 'shop-db', sql: 'select name, email, ssn from customers' });
    expect(read.effect).toBe('allow');
    expect(read.masks.map((m) => m.pattern)).toEqual(expect.arrayContaining(['*.customers.email', '*.customers.ssn']));
    expect(one({ as: 'support-agent', target: 'shop-db', sql: "update orders set status = 'x' where id = 1" }).rules[0]?.rule).toBe('no-writes');
    expect(one({ as: 'data-agent', target: 'shop-db', sql: 'drop table orders' }).rules[0]?.rule).toBe('no-ddl');
  });

  it('sends data-agent deletes to a DBA with a 30-minute grant', () => {
    const d = one({ as: 'data-agent', target: 'shop-db', sql: 'delete from orders where id = 3' });
    expect(d.effect).toBe('review');
    expect(d.review).toMatchObject({ approverGroups: ['dba'], grantTtlMs: 30 * 60_000 });
  });

  it('governs HTTP paths and query parameters, and Kubernetes verbs and namespaces', () => {
    expect(one({ as: 'support-agent', target: 'billing-api', http: 'GET /invoices/2026/11?limit=20' }).effect).toBe('allow');
    expect(one({ as: 'support-agent', target: 'billing-api', http: 'GET /invoices?limit=100000' }).effect).toBe('deny');
    expect(one({ as: 'support-agent', target: 'billing-api', http: 'GET /invoices/../admin' }).effect).toBe('deny');
    expect(one({ as: 'ops-agent', target: 'k8s-prod', k8s: 'list pods -n shop-staging' }).effect).toBe('allow');
    expect(one({ as: 'ops-agent', target: 'k8s-prod', k8s: 'list pods -n kube-system' }).effect).toBe('deny');
    expect(one({ as: 'ops-agent', target: 'k8s-prod', k8s: 'create pods/exec web-1 -n shop' }).effect).toBe('review');
  });
});
