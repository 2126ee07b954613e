import type { LintRule, RawFinding } from '../types.ts';

const DECLARED = ['caseSensitive', 'trailingSlash', 'semicolonParameters'] as const;

export default {
  id: 'undeclared-path-semantics',
  severity: 'warning',
  title: 'A deny rule covers an HTTP target that does not say how it reads paths',
  explanation:
    'A deny rule on `/admin/**` protects only the spellings policy reads as `/admin`. Upstreams differ: Express routes `/ADMIN` and `/Admin` as `/admin`, servlet containers drop `;jsessionid=…` path parameters, and some frameworks treat `/a/` as `/a`. Unless the target declares `spec.paths` (caseSensitive, trailingSlash, semicolonParameters), the gateway matches case-sensitively with `;` literal, and a case or parameter variant of a denied path can reach the upstream.',
  fix: "Declare the upstream's path semantics on the target, e.g. paths: { caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal } for an Express app.",
  check(ctx) {
    const out: RawFinding[] = [];
    const reported = new Set<string>();
    for (const e of ctx.facts?.rules ?? []) {
      if (e.rule.effect !== 'deny') continue;
      for (const t of e.targets) {
        const spec = t.doc.spec;
        if (spec.type !== 'http') continue;
        const missing = DECLARED.filter((k) => spec.paths?.[k] === undefined);
        if (missing.length === 0) continue;
        const key = `${t.doc.metadata.name}\0${e.policy.doc.metadata.name}\0${e.rule.id}`;
        if (reported.has(key)) continue;
        reported.add(key);
        out.push({
          message: `deny rule '${e.rule.id}' covers HTTP target '${t.doc.metadata.name}', which does not declare paths.${missing.join(', paths.')}`,
          at: { origin: e.policy.origin, pointer: `${e.pointer}/effect` },
        });
      }
    }
    return out;
  },
} satisfies LintRule;
