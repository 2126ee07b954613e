/** Every lint rule has a repo that trips it and a near-identical one that does not. */
import { describe, expect, it } from 'vitest';
import { lintFiles } from '../../runtime/lint/run.ts';
import { rules } from '../../runtime/lint/catalogue.ts';
import { policy, repo, targets, identities } from './fixture.ts';

type Files = Record<string, string>;
const p = (rules: string, opts?: Parameters<typeof policy>[1]): Files => ({ 'policy.yaml': policy(rules, opts) });

const reviewOk = `review: { approvers: { groups: [dba] } }`;

const cases: Record<string, { bad: Files; good: Files }> = {
  'yaml-syntax': { bad: { 'broken.yaml': 'a: [1, 2\n' }, good: { 'fine.yaml': '' } },
  schema: {
    bad: p(`- { id: r, effect: allow, actions: [select], resources: [orders], wen: { maxRows: 1 } }`),
    good: p(`- { id: r, effect: allow, actions: [select], resources: [orders], when: { maxRows: 1 } }`),
  },
  'unresolved-reference': {
    bad: p(`- { id: r, effect: allow, actions: [select], resources: [orders] }`, { subjects: '[{ group: agnets }]' }),
    good: p(`- { id: r, effect: allow, actions: [select], resources: [orders] }`),
  },
  'duplicate-name': {
    bad: { 'a.yaml': policy(`- { id: r, effect: deny, actions: [ddl] }`, { name: 'same' }), 'b.yaml': policy(`- { id: r, effect: deny, actions: [admin] }`, { name: 'same' }) },
    good: { 'a.yaml': policy(`- { id: r, effect: deny, actions: [ddl] }`, { name: 'one' }), 'b.yaml': policy(`- { id: r, effect: deny, actions: [admin] }`, { name: 'two' }) },
  },
  'inline-secret': {
    bad: { 'targets.yaml': targets.replace('host: 127.0.0.1', 'host: 127.0.0.1\n  tls: { mode: require }').replace('url: http://127.0.0.1:8080', 'url: http://svc:hunter2@127.0.0.1:8080') },
    good: {},
  },
  'wildcard-allow-for-agents': { bad: p(`- { id: r, effect: allow, actions: [select], resources: ["*"] }`), good: p(`- { id: r, effect: allow, actions: [select], resources: ["public.orders_*"] }`) },
  'destructive-without-review': {
    bad: p(`- { id: r, effect: allow, actions: [delete], resources: [orders] }`),
    good: p(`- { id: r, effect: review, actions: [delete], resources: [orders], ${reviewOk} }\n- { id: u, effect: allow, actions: [update], resources: [orders], when: { requireWhere: true } }`),
  },
  'classified-data-unmasked': {
    bad: { 'replica.yaml': replica(''), ...p(`- { id: r, effect: allow, actions: [select], resources: [customers] }`, { targets: '[replica]' }) },
    good: {
      'replica.yaml': replica('  classification: [{ name: pii, columns: [customers.email], strategy: redact }]\n'),
      ...p(`- { id: r, effect: allow, actions: [select], resources: [customers] }`, { targets: '[replica]' }),
    },
  },
  'unmasked-content-type': {
    bad: { 'targets.yaml': targets.replace('url: http://127.0.0.1:8080', 'url: http://127.0.0.1:8080\n  passUnmaskedContentTypes: [text/csv]') },
    good: { 'targets.yaml': targets.replace('url: http://127.0.0.1:8080', 'url: http://127.0.0.1:8080\n  passUnmaskedContentTypes: [image/png]') },
  },
  'undeclared-path-semantics': {
    bad: p(`- { id: no-admin, effect: deny, actions: [GET], resources: ["/admin/**"] }`, { targets: '[api]' }),
    good: {
      ...p(`- { id: no-admin, effect: deny, actions: [GET], resources: ["/admin/**"] }`, { targets: '[api]' }),
      'targets.yaml': targets.replace('url: http://127.0.0.1:8080', 'url: http://127.0.0.1:8080\n  paths: { caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal }'),
    },
  },
  'weak-mask-strategy': {
    bad: { 'targets.yaml': targets.replace('{ name: secrets, secretData: true, strategy: redact }', '{ name: secrets, secretData: true, strategy: partial }') },
    good: {},
  },
  'allow-overridden-by-deny': {
    bad: p(`- { id: a, effect: allow, actions: [select], resources: [orders] }\n- { id: d, effect: deny, actions: [select, insert] }`),
    good: p(`- { id: a, effect: allow, actions: [select], resources: [orders] }\n- { id: d, effect: deny, actions: [select], resources: [secrets] }`),
  },
  'shadowed-rule': {
    bad: p(`- { id: rv, effect: review, actions: [delete], resources: [orders], ${reviewOk} }\n- { id: d, effect: deny, actions: [delete] }`),
    good: p(`- { id: rv, effect: review, actions: [delete], resources: [orders], ${reviewOk} }\n- { id: d, effect: deny, actions: [delete], resources: [customers] }`),
  },
  'duplicate-rule': {
    bad: p(`- { id: a, effect: allow, actions: [select], resources: [orders] }\n- { id: b, effect: allow, actions: [select], resources: [orders] }`),
    good: p(`- { id: a, effect: allow, actions: [select], resources: [orders] }\n- { id: b, effect: allow, actions: [select], resources: [products] }`),
  },
  'redundant-rule': {
    bad: p(`- { id: a, effect: allow, actions: [select], resources: [orders] }\n- { id: b, effect: allow, actions: [select], resources: [orders, products] }`),
    good: p(
      `- { id: a, effect: allow, actions: [select], resources: [orders], mask: [{ columns: [orders.note], strategy: redact }] }\n- { id: b, effect: allow, actions: [select], resources: [orders, products] }`,
    ),
  },
  'review-without-approvers': {
    bad: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba], count: 3 } } }`),
    good: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba], count: 2 } } }`),
  },
  'self-approval': {
    bad: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba] } } }`, { subjects: '[{ group: dba }]' }),
    good: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [sre] } } }`, { subjects: '[{ identity: alice }]' }),
  },
  'agent-approver': {
    bad: {
      'identities.yaml': identities + `---\napiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: helper }\nspec: { kind: agent, match: { subject: helper }, groups: [dba] }\n`,
      ...p(`- { id: r, effect: review, actions: [delete], resources: [orders], ${reviewOk} }`),
    },
    good: p(`- { id: r, effect: review, actions: [delete], resources: [orders], ${reviewOk} }`),
  },
  'grant-ttl-exceeds-max': {
    bad: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba] }, grant: { ttl: 8h } } }`),
    good: p(`- { id: r, effect: review, actions: [delete], resources: [orders], review: { approvers: { groups: [dba] }, grant: { ttl: 30m } } }`),
  },
  'vacuous-invariant': { bad: { 'inv.yaml': invariant('{ targets: [api], actions: [ddl] }') }, good: { 'inv.yaml': invariant('{ targets: [db], actions: [ddl] }') } },
  'vacuous-test': { bad: { 'tests.yaml': test('as: alice', 'sql: select 1') }, good: { 'tests.yaml': test('as: bot', 'sql: select * from catalog') } },
  'unknown-test-rule': {
    bad: { 'tests.yaml': test('as: bot', 'sql: select * from catalog', 'rules: [base/raed]') },
    good: { 'tests.yaml': test('as: bot', 'sql: select * from catalog', 'rules: [base/read]') },
  },
  'invisible-unicode': { bad: p(`- { id: r, effect: allow, actions: [select], resources: ["orders\u200b"] }`), good: p(`- { id: r, effect: allow, actions: [select], resources: ["orders"] }`) },
  'confusable-name': {
    bad: p(`- { id: r, effect: allow, actions: [select], resources: ["оrders"] }`),
    good: p(`- { id: r, effect: allow, actions: [select], resources: ["orders"], description: "Bestellungen lesen: Größe egal" }`),
  },
  'unsupported-regex': {
    bad: p(`- { id: r, effect: allow, actions: [select], resources: [orders], when: { statementPattern: "^select (\\\\w+) from \\\\1$" } }`),
    good: p(`- { id: r, effect: allow, actions: [select], resources: [orders], when: { statementPattern: "^(\\\\w+\\\\s?)+$" } }`),
  },
  'policy-matches-no-target': {
    bad: p(`- { id: r, effect: deny, actions: [ddl] }`, { targets: '{ labels: { env: staging } }' }),
    good: p(`- { id: r, effect: deny, actions: [ddl] }`, { targets: '[db]' }),
  },
  'orphan-target': { bad: { 'base.yaml': policy(`- { id: read, effect: allow, actions: [select], resources: [catalog] }`, { name: 'base' }) }, good: {} },
  'identity-without-policy': {
    bad: { 'identities.yaml': identities + `---\napiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: lonely }\nspec: { kind: agent, match: { subject: lonely }, groups: [nobody] }\n` },
    good: {},
  },
  'insecure-transport': {
    bad: { 'targets.yaml': targets.replace('url: http://127.0.0.1:8080', 'url: http://billing.internal:8080') },
    good: { 'targets.yaml': targets.replace('url: http://127.0.0.1:8080', 'url: https://billing.internal') },
  },
  'ineffective-mask': {
    bad: p(`- { id: d, effect: deny, actions: [select], resources: [secrets], mask: [{ columns: [secrets.value], strategy: redact }] }`),
    good: p(`- { id: d, effect: deny, actions: [select], resources: [secrets] }`),
  },
  'unused-suppression': {
    bad: p(`- { id: r, effect: allow, actions: [select], resources: [orders], suppress: [{ rule: destructive-without-review, reason: "read only, nothing to review here" }] }`),
    good: p(`- { id: r, effect: allow, actions: [delete], resources: [orders], suppress: [{ rule: destructive-without-review, reason: "orders are soft-deleted by a trigger" }] }`),
  },
};

function replica(classification: string): string {
  return `apiVersion: portcullis.dev/v1\nkind: Target\nmetadata: { name: replica }\nspec:\n  type: postgres\n  host: 127.0.0.1\n  port: 5433\n  database: shop\n  user: gw\n${classification}`;
}

function invariant(scope: string): string {
  return `apiVersion: portcullis.dev/v1\nkind: Invariant\nmetadata: { name: inv }\nspec:\n  scope: ${scope}\n  assert: { effectNot: [allow] }\n`;
}

function test(as: string, request: string, rules = ''): string {
  return `apiVersion: portcullis.dev/v1\nkind: PolicyTest\nmetadata: { name: t }\nspec:\n  cases:\n    - name: c\n      ${as}\n      target: db\n      ${request}\n      expect: { effect: allow${rules ? `, ${rules}` : ''} }\n`;
}

const ids = (files: Files, rule: string) => lintFiles('/fixture', repo(files)).findings.filter((f) => f.rule === rule);

describe('lint rules', () => {
  it('has at least 20 rules, each documented and with a fixture', () => {
    expect(rules.length).toBeGreaterThanOrEqual(20);
    for (const r of rules) {
      expect(r.explanation.length, r.id).toBeGreaterThan(120);
      expect(r.fix.length, r.id).toBeGreaterThan(10);
      expect(Object.keys(cases), `fixture for ${r.id}`).toContain(r.id);
    }
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
  });

  for (const [id, { bad, good }] of Object.entries(cases)) {
    it(`${id}: trips on the bad repo`, () => {
      const found = ids(bad, id);
      expect(found.length, JSON.stringify(lintFiles('/fixture', repo(bad)).findings, null, 1)).toBeGreaterThan(0);
      for (const f of found) {
        expect(f.line).toBeGreaterThan(0);
        expect(f.file).toMatch(/\.ya?ml$/);
      }
    });
    it(`${id}: stays quiet on the good repo`, () => {
      expect(ids(good, id)).toEqual([]);
    });
  }

  it('unresolved references carry a did-you-mean', () => {
    const [f] = ids(cases['unresolved-reference']!.bad, 'unresolved-reference');
    expect(f?.hint).toContain("did you mean 'agents'?");
  });

  it('the base fixture is clean', () => {
    expect(lintFiles('/fixture', repo({})).findings).toEqual([]);
  });
});

describe('globs in lint mean what the gateway enforces', () => {
  const onReplica = (classified: string, mask: string): Files => ({
    'targets.yaml': targets.replace('columns: [customers.email]', `columns: ["${classified}"]`),
    'replica.yaml': replica(''),
    ...p(`- { id: r, effect: allow, actions: [select], mask: [{ columns: ["${mask}"], strategy: redact }] }`, { targets: '[replica]' }),
  });

  it('a mask on one table does not cover a classification of that column in every table', () => {
    expect(ids(onReplica('*.email', 'customers.email'), 'classified-data-unmasked')).toHaveLength(1);
    expect(ids(onReplica('*.email', '*.email'), 'classified-data-unmasked')).toEqual([]);
  });

  it('a mask of table.column covers the classification of schema.table.column, whatever the case', () => {
    expect(ids(onReplica('public.customers.email', 'customers.email'), 'classified-data-unmasked')).toEqual([]);
    expect(ids(onReplica('public.customers.email', 'Customers.Email'), 'classified-data-unmasked')).toEqual([]);
    expect(ids(onReplica('public.customers.email', 'orders.email'), 'classified-data-unmasked')).toHaveLength(1);
  });

  it("'*.*' matches every relation of a PostgreSQL target, not every path of an HTTP one", () => {
    const shadowing = (target: string, action: string, resource: string) =>
      ids(
        p(`- { id: rv, effect: review, actions: [${action}], resources: ["${resource}"], ${reviewOk} }\n- { id: d, effect: deny, actions: [${action}], resources: ["*.*"] }`, {
          targets: `[${target}]`,
        }),
        'shadowed-rule',
      );
    expect(shadowing('db', 'delete', 'orders').length).toBeGreaterThan(0);
    expect(shadowing('api', 'GET', '/orders/1')).toEqual([]);
  });
});
