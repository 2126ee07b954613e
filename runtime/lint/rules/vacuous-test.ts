import type { LintRule, RawFinding } from '../types.ts';

const kindFor = { postgres: 'sql', http: 'http', kubernetes: 'k8s', mcp: 'mcp' } as const;

export default {
  id: 'vacuous-test',
  severity: 'warning',
  title: 'A policy test exercises no rule',
  explanation:
    'A test case whose identity is not a subject of any policy covering its target only checks the default deny: it passes whatever the policies say, and keeps passing after the rule it was meant to pin down is deleted. A case whose request is written for another kind of target (sql against an HTTP API) can never match a rule either.',
  fix: "Make the case use an identity and target some policy covers, and write the request in the target's language (sql, http, k8s or mcp).",
  wholeRepo: true,
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const covered = new Set<string>();
    for (const e of facts.rules) for (const t of e.targets) for (const i of e.identities) covered.add(`${i}\0${t.doc.metadata.name}`);
    for (const test of bundle.tests) {
      test.doc.spec.cases.forEach((c, i) => {
        const at = { origin: test.origin, pointer: `/spec/cases/${i}` };
        const target = bundle.targets.get(c.target);
        if (!target) return;
        const want = kindFor[target.doc.spec.type];
        if (c[want] === undefined) {
          out.push({ message: `test '${c.name}' sends no ${want} request, but target '${c.target}' is ${target.doc.spec.type}`, at, severity: 'warning' });
        } else if (!covered.has(`${c.as}\0${c.target}`)) {
          out.push({ message: `test '${c.name}': no policy applies to '${c.as}' on '${c.target}', so it only tests the default deny`, at });
        }
      });
    }
    return out;
  },
} satisfies LintRule;
