/**
 * The semantics of the engine as laws, checked by fast-check over random bundles and requests.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decide } from '../../runtime/engine/decide.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import { bundleOf, dbTarget, identities, pg } from './helpers.ts';
import type { StatementClass } from '../../runtime/engine/request.ts';

const classes: StatementClass[] = ['select', 'insert', 'update', 'delete', 'ddl'];
const tables = ['orders', 'customers', 'products'];
const groups = ['agents', 'dba'];

interface RuleGen {
  effect: 'allow' | 'deny' | 'review';
  actions: string[];
  resources: string[];
  mask: boolean;
  requireWhere: boolean;
}

const ruleArb: fc.Arbitrary<RuleGen> = fc.record({
  effect: fc.constantFrom('allow', 'deny', 'review'),
  actions: fc.subarray([...classes, '*'], { minLength: 1 }),
  resources: fc.subarray([...tables, '*', 'cust*'], { minLength: 1 }),
  mask: fc.boolean(),
  requireWhere: fc.boolean(),
});

const policyArb = fc.record({
  group: fc.constantFrom(...groups),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 5 }),
});

function renderRule(r: RuleGen, id: string): string {
  const extra = [
    r.effect === 'review' ? 'review: { approvers: { groups: [dba] } }' : '',
    r.mask ? 'mask: [{ columns: [customers.phone], strategy: hash }]' : '',
    r.requireWhere ? 'when: { requireWhere: true }' : '',
  ].filter(Boolean);
  return `    - { id: ${id}, effect: ${r.effect}, actions: [${r.actions.map((a) => JSON.stringify(a)).join(', ')}], resources: [${r.resources.map((x) => JSON.stringify(x)).join(', ')}]${extra.length ? ', ' + extra.join(', ') : ''} }\n`;
}

function renderPolicy(name: string, p: { group: string; rules: RuleGen[] }, ids?: string[]): string {
  return `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: ${name} }
spec:
  subjects: [{ group: ${p.group} }]
  targets: [db]
  rules:
${p.rules.map((r, i) => renderRule(r, ids?.[i] ?? `r${i}`)).join('')}`;
}

function files(policies: { group: string; rules: RuleGen[] }[]): Record<string, string> {
  const out: Record<string, string> = { 'target.yaml': dbTarget, 'identities.yaml': identities };
  policies.forEach((p, i) => (out[`p${i}.yaml`] = renderPolicy(`p${i}`, p)));
  return out;
}

const requestArb = fc.record({
  who: fc.constantFrom(['bot', ['agents']] as const, ['admin', ['dba']] as const),
  cls: fc.constantFrom(...classes),
  rels: fc.subarray(tables, { minLength: 0, maxLength: 2 }),
  hasWhere: fc.boolean(),
});

function request(r: { who: readonly [string, readonly string[]]; cls: StatementClass; rels: string[]; hasWhere: boolean }) {
  return pg(
    r.who[0],
    [...r.who[1]],
    r.cls,
    r.rels.map((name) => ({ name })),
    { hasWhere: r.hasWhere },
  );
}

const rank = { allow: 0, review: 1, deny: 2 } as const;
// Where a rule is written (file, line) moves with the permutation; what it decides must not.
const withoutRevision = (d: Decision) => JSON.parse(JSON.stringify({ ...d, revision: undefined }, (k, v) => (k === 'file' || k === 'line' ? undefined : v)));
const maskKeys = (d: Decision) => d.masks.map((m) => `${m.kind}|${m.pattern}|${m.strategy}|${m.source}`);

describe('engine laws', () => {
  it('default deny: a bundle without policies denies everything', () => {
    const b = bundleOf(files([]));
    fc.assert(
      fc.property(requestArb, (r) => decide(b, request(r)).effect === 'deny'),
      { numRuns: 200 },
    );
  });

  it('permuting rules within policies, or files, never changes a decision', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { minLength: 1, maxLength: 4 }), requestArb, fc.integer(), (policies, r, seed) => {
        const a = bundleOf(files(policies));
        // Shuffle rules (keeping their ids) and the order of files.
        const shuffled = policies.map((p, pi) => {
          const idx = p.rules.map((_, i) => i);
          for (let i = idx.length - 1; i > 0; i--) {
            const j = Math.abs((seed + pi * 31 + i * 17) % (i + 1));
            [idx[i], idx[j]] = [idx[j]!, idx[i]!];
          }
          return {
            name: `p${pi}`,
            text: renderPolicy(
              `p${pi}`,
              { group: p.group, rules: idx.map((i) => p.rules[i]!) },
              idx.map((i) => `r${i}`),
            ),
          };
        });
        const reordered: Record<string, string> = {};
        for (const s of [...shuffled].reverse()) reordered[`z/${s.name}.yaml`] = s.text;
        reordered['identities.yaml'] = identities;
        reordered['target.yaml'] = dbTarget;
        const b = bundleOf(reordered);
        const req = request(r);
        expect(withoutRevision(decide(b, req))).toEqual(withoutRevision(decide(a, req)));
      }),
      { numRuns: 150 },
    );
  });

  it('adding an allow never removes a deny, a review or a mask', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { maxLength: 3 }), ruleArb, fc.constantFrom(...groups), requestArb, (policies, extra, group, r) => {
        const before = decide(bundleOf(files(policies)), request(r));
        const after = decide(bundleOf(files([...policies, { group, rules: [{ ...extra, effect: 'allow' }] }])), request(r));
        if (before.effect === 'deny' && before.rules.length > 0) expect(after.effect).toBe('deny');
        if (before.effect === 'review') expect(after.effect).not.toBe('allow');
        expect(maskKeys(after)).toEqual(expect.arrayContaining(maskKeys(before)));
      }),
      { numRuns: 150 },
    );
  });

  it('adding a deny never turns a decision into a weaker one', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { maxLength: 3 }), ruleArb, fc.constantFrom(...groups), requestArb, (policies, extra, group, r) => {
        const before = decide(bundleOf(files(policies)), request(r));
        const after = decide(bundleOf(files([...policies, { group, rules: [{ ...extra, effect: 'deny' }] }])), request(r));
        expect(rank[after.effect]).toBeGreaterThanOrEqual(rank[before.effect]);
        if (before.effect === 'deny') expect(after.effect).toBe('deny');
      }),
      { numRuns: 150 },
    );
  });

  it('same input, same decision', () => {
    fc.assert(
      fc.property(fc.array(policyArb, { maxLength: 3 }), requestArb, (policies, r) => {
        const f = files(policies);
        const a = bundleOf(f);
        const b = bundleOf(f);
        const req = request(r);
        expect(decide(a, req)).toEqual(decide(a, req));
        expect(decide(b, req)).toEqual(decide(a, req));
      }),
      { numRuns: 100 },
    );
  });
});
