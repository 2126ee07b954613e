/**
 * Every tool that reads a policy gives the gateway's answer about a column: for random column
 * patterns, relation patterns and names, the engine's decision with the masking plan (what is
 * enforced), policy tests, invariants, lint (with its live-catalog check) and simulate agree on
 * whether a classified column can be read in clear. They share one pattern module; this test keeps a
 * tool from growing its own meaning of a glob again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bundleOf, header, identities, pg } from './helpers.ts';
import { decide } from '../../runtime/engine/decide.ts';
import { compileMatcher } from '../../runtime/engine/match.ts';
import { compileColumnPattern, globInstances, normaliseColumnPattern, normaliseRelationPattern } from '../../runtime/engine/pattern.ts';
import { maskLookup } from '../../runtime/protocols/postgres/mask-plan.ts';
import { maskCovers } from '../../runtime/policytest/masks.ts';
import { checkInvariants } from '../../runtime/simulate/invariants.ts';
import { touches } from '../../runtime/simulate/replay.ts';
import { lintFiles } from '../../runtime/lint/run.ts';
import { findRule } from '../../runtime/lint/catalogue.ts';
import { matchesAnyColumn } from '../../runtime/lint/live-catalog.ts';
import type { Mask } from '../../runtime/engine/decision.ts';

// A small alphabet with both cases, so patterns and names collide often and case rules are exercised.
const part = fc.stringMatching(/^[abAB_]{1,3}$/);
const name = fc.record({ schema: part, table: part, column: part });

/** A glob for one part, usually close to `text` (same, case flipped, a run starred), sometimes unrelated. */
function globNear(text: string): fc.Arbitrary<string> {
  const flip = (s: string) => [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
  return fc.oneof(
    fc.constant(text),
    fc.constant(flip(text)),
    fc.constant('*'),
    fc.tuple(fc.nat(text.length), fc.nat(text.length)).map(([a, b]) => `${text.slice(0, Math.min(a, b))}*${text.slice(Math.max(a, b))}`),
    fc.stringMatching(/^[abAB_*]{1,4}$/),
  );
}

const scenario = name.chain((n) =>
  fc.record({
    n: fc.constant(n),
    // the rule's mask: `[schema.]table.column`
    mask: fc.tuple(fc.option(globNear(n.schema), { nil: undefined }), globNear(n.table), globNear(n.column)).map(([s, t, c]) => [s, t, c].filter((x) => x !== undefined).join('.')),
    // the rule's resources: omitted, or one `[schema.]table` glob
    resource: fc.option(
      fc.tuple(fc.option(globNear(n.schema), { nil: undefined }), globNear(n.table)).map(([s, t]) => (s === undefined ? t : `${s}.${t}`)),
      { nil: undefined },
    ),
  }),
);

const repository = `${header}
kind: Repository
metadata: { name: agreement }
spec: {}
`;

/** A primary that classifies the column, a replica without classification that agents read with the rule's own mask. */
function repo(column: string, mask: string, resource: string | undefined): Record<string, string> {
  return {
    'repository.yaml': repository,
    'targets.yaml': `${header}
kind: Target
metadata: { name: primary }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5432
  database: app
  user: app
  password: { env: DB_PASSWORD }
  classification:
    - { name: pii, columns: ["${column}"], strategy: redact }
---
${header}
kind: Target
metadata: { name: replica }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5433
  database: app
  user: app
  password: { env: DB_PASSWORD }
`,
    'identities.yaml': identities,
    'policy.yaml': `${header}
kind: Policy
metadata: { name: reads }
spec:
  subjects: [{ group: agents }]
  targets: [replica]
  rules:
    - id: read
      effect: allow
      actions: [select]
${resource === undefined ? '' : `      resources: ["${resource}"]\n`}      mask: [{ columns: ["${mask}"], strategy: partial }]
`,
    'invariant.yaml': `${header}
kind: Invariant
metadata: { name: pii-masked }
spec:
  scope: { targets: [replica] }
  assert: { masked: [pii] }
`,
  };
}

const unmaskedRule = findRule('classified-data-unmasked')!;

describe('one meaning of a column pattern', () => {
  it('engine with masking plan, policy tests, invariants, lint, live-catalog lint and simulate agree', () => {
    fc.assert(
      fc.property(scenario, ({ n, mask, resource }) => {
        const full = `${n.schema}.${n.table}.${n.column}`;
        const files = repo(full, mask, resource);
        const bundle = bundleOf(files);
        const request = pg('bot', ['agents'], 'select', [{ schema: n.schema, name: n.table }], { target: 'replica' });
        const decision = decide(bundle, request);

        // What is enforced: the engine's verdict, and the masking plan over the rule's mask.
        const allowed = decision.effect === 'allow';
        const ruleMask: Mask = { kind: 'column', pattern: normaliseColumnPattern(mask), strategy: 'partial', source: 'reads/read' };
        const masked = maskLookup([ruleMask])(n.schema, n.table, n.column) !== undefined;
        if (allowed) expect(maskLookup(decision.masks)(n.schema, n.table, n.column) !== undefined).toBe(masked);
        const exposed = allowed && !masked;

        // The engine's relation match is the one lint's and the invariants' scopes use.
        expect(allowed).toBe(compileMatcher(resource === undefined ? undefined : [resource], 'postgres').test(`${n.schema}.${n.table}`));

        // policy tests: `masked: [column:schema.table.column]`
        expect(maskCovers(ruleMask, `column:${full}`)).toBe(masked);
        // live-catalog lint: the mask names this column of the database
        expect(matchesAnyColumn(mask, [full])).toBe(masked);
        // simulate: a mask the gateway applies is one replay counts as touching the statement
        if (masked) expect(touches(ruleMask, request)).toBe(true);

        // invariants: "pii is always masked on the replica", judged on the recorded request
        const [inv] = checkInvariants(bundle, [{ sessionId: 's', seq: 1, request, decision }], { seed: 1, runs: 0 });
        expect(inv!.holds).toBe(!exposed);

        // lint: classified-data-unmasked reports the replica read exactly when the column is exposed
        const report = lintFiles(
          '/repo',
          Object.entries(files).map(([path, text]) => ({ path, text })),
          [unmaskedRule],
        );
        expect(report.findings.some((f) => f.rule === 'classified-data-unmasked')).toBe(exposed);
      }),
      { numRuns: 200 },
    );
  });

  it('a rule reaches a relation case-exactly; a mask on it covers it whatever the case (masking too much is safe)', () => {
    fc.assert(
      fc.property(scenario, ({ n, resource = n.table }) => {
        const relation = `${n.schema}.${n.table}`;
        const maskOn = (r: string, rel: string) => compileColumnPattern(`${normaliseRelationPattern(r)}.x`).testRelation(rel);
        if (compileMatcher([resource], 'postgres').test(relation)) expect(maskOn(resource, relation)).toBe(true);
        // with names and patterns in one case, a rule's reach and a mask's are the same relations
        const [r, rel] = [resource.toLowerCase(), relation.toLowerCase()];
        expect(compileMatcher([r], 'postgres').test(rel)).toBe(maskOn(r, rel));
      }),
      { numRuns: 1000 },
    );
  });

  it('the part-by-part matcher means what the regular expression `[^.]*` per star means', () => {
    const glob = fc.stringMatching(/^[abAB_.*]{0,8}$/);
    const text = fc.stringMatching(/^[abAB_.*]{0,10}$/);
    fc.assert(
      fc.property(glob, text, (g, t) => {
        const re = new RegExp(
          `^${g
            .split('*')
            .map((s) => s.replace(/[.]/g, '\\.'))
            .join('[^.]*')}$`,
          'i',
        );
        const p = compileColumnPattern(g.split('.').length === 2 ? `x.${g}` : g);
        const full = g.split('.').length === 2 ? `x.${t}` : t;
        expect(p.test(full)).toBe(re.test(t));
      }),
      { numRuns: 2000 },
    );
  });

  it('every name the invariant search and the permission diff try for a glob is one the engine matches', () => {
    const byType = {
      postgres: fc.stringMatching(/^[ab_*]{1,3}(\.[ab_*]{1,3})?$/),
      http: fc.stringMatching(/^(\/[ab*]{1,3}){1,3}\/?$/),
      kubernetes: fc.stringMatching(/^[ab*]{1,4}(\/[ab*]{1,3})?$/),
      mcp: fc.stringMatching(/^[ab:\/*]{1,6}$/),
    } as const;
    for (const [type, glob] of Object.entries(byType) as [keyof typeof byType, fc.Arbitrary<string>][]) {
      fc.assert(
        fc.property(glob, (g) => {
          const m = compileMatcher([g], type);
          for (const name of globInstances(g, type)) expect(m.test(type === 'postgres' ? normaliseRelationPattern(name) : name)).toBe(true);
        }),
        { numRuns: 300 },
      );
    }
  });
});
