/**
 * Cross-document references: every target, identity, group, approver group and classification a
 * document names must exist. An unknown name is an error with a did-you-mean, because a typo in a
 * policy is silently a different policy.
 */
import type { Diagnostic } from './diagnostics.ts';
import { didYouMean } from './diagnostics.ts';
import type { Located, Target, Identity, Policy, Invariant, PolicyTest, Origin } from './model.ts';
import { ruleActionsByType } from './vocabulary.ts';
import { patternProblem } from '../engine/pattern.ts';

export interface References {
  targets: ReadonlyMap<string, Located<Target>>;
  identities: ReadonlyMap<string, Located<Identity>>;
  policies: readonly Located<Policy>[];
  invariants: readonly Located<Invariant>[];
  tests: readonly Located<PolicyTest>[];
  groups: ReadonlySet<string>;
}

export function resolveReferences(refs: References): Diagnostic[] {
  const out: Diagnostic[] = [];
  const err = (origin: Origin, pointer: string, message: string, hint?: string) => {
    const pos = origin.locate(pointer);
    out.push({ code: 'unresolved-reference', severity: 'error', file: origin.file, ...pos, message, ...(hint ? { hint } : {}) });
  };
  const suggest = (value: string, names: Iterable<string>) => {
    const guess = didYouMean(value, names);
    return guess ? `did you mean '${guess}'?` : undefined;
  };

  const checkSubjects = (origin: Origin, base: string, subjects: readonly { identity?: string; group?: string }[]) => {
    subjects.forEach((s, i) => {
      if (s.identity !== undefined && !refs.identities.has(s.identity)) {
        err(origin, `${base}/${i}/identity`, `unknown identity '${s.identity}'`, suggest(s.identity, refs.identities.keys()));
      }
      if (s.group !== undefined && !refs.groups.has(s.group)) {
        err(origin, `${base}/${i}/group`, `no identity is in group '${s.group}'`, suggest(s.group, refs.groups));
      }
    });
  };

  for (const p of refs.policies) {
    const spec = p.doc.spec;
    checkSubjects(p.origin, '/spec/subjects', spec.subjects);
    const covered = targetsOf(spec.targets, refs.targets);
    if (Array.isArray(spec.targets)) {
      spec.targets.forEach((t, i) => {
        if (!refs.targets.has(t)) err(p.origin, `/spec/targets/${i}`, `unknown target '${t}'`, suggest(t, refs.targets.keys()));
      });
    }
    const types = new Set(covered.map((t) => t.doc.spec.type));
    const classifications = new Set(covered.flatMap((t) => (t.doc.spec.classification ?? []).map((c) => c.name)));
    const ids = new Map<string, number>();
    spec.rules.forEach((rule, r) => {
      const base = `/spec/rules/${r}`;
      if (ids.has(rule.id)) err(p.origin, `${base}/id`, `rule id '${rule.id}' is used twice in policy '${p.doc.metadata.name}'`);
      ids.set(rule.id, r);
      if (types.size > 0) {
        const valid = new Set([...types].flatMap((t) => ruleActionsByType[t]));
        rule.actions.forEach((a, i) => {
          if (a !== '*' && !valid.has(a)) {
            err(p.origin, `${base}/actions/${i}`, `action '${a}' means nothing to ${[...types].join(', ')} targets`, suggest(a, valid) ?? `valid actions: ${[...valid].join(', ')}`);
          }
        });
      }
      if (types.has('postgres') && rule.resources) {
        explorationResourceErrors(rule, (pointer, message, hint) => {
          // a rule that cannot mean what it says: a shape problem, reported with the schema's findings
          const pos = p.origin.locate(`${base}${pointer}`);
          out.push({ code: 'schema', severity: 'error', file: p.origin.file, ...pos, message, hint });
        });
      }
      (rule.mask ?? []).forEach((m, i) => {
        (m.classifications ?? []).forEach((c, j) => {
          if (!classifications.has(c)) {
            err(p.origin, `${base}/mask/${i}/classifications/${j}`, `no target of this policy defines classification '${c}'`, suggest(c, classifications));
          }
        });
      });
      rule.review?.approvers.groups.forEach((g, i) => {
        if (!refs.groups.has(g)) err(p.origin, `${base}/review/approvers/groups/${i}`, `no identity is in approver group '${g}'`, suggest(g, refs.groups));
      });
      if (rule.review && rule.effect !== 'review') {
        err(p.origin, `${base}/review`, `rule '${rule.id}' has review settings but effect '${rule.effect}'`, `set effect: review, or remove review`);
      }
      if (rule.effect === 'review' && !rule.review) {
        err(p.origin, `${base}`, `rule '${rule.id}' has effect review but no review.approvers`, 'add review: {approvers: {groups: [...], count: 1}}');
      }
      const when = rule.when;
      const regexes: [string, string | undefined][] = [
        ['statementPattern', when?.statementPattern],
        ['pathPattern', when?.pathPattern],
        ...Object.entries(when?.query ?? {}).map(([k, v]) => [`query/${k}`, typeof v === 'string' ? v : v?.pattern] as [string, string]),
        ...Object.entries(when?.arguments ?? {}).map(([k, v]) => [`arguments/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, v] as [string, string]),
      ];
      for (const [key, source] of regexes) {
        if (source === undefined) continue;
        const problem = patternProblem(source);
        if (problem) out.push({ code: 'regex', severity: 'error', file: p.origin.file, ...p.origin.locate(`${base}/when/${key}`), message: `rule '${rule.id}': /${source}/ ${problem}` });
      }
      const tz = when?.time?.timezone;
      if (tz !== undefined && !validTimezone(tz)) err(p.origin, `${base}/when/time/timezone`, `unknown time zone '${tz}'`, 'use an IANA name such as UTC or Europe/Berlin');
    });
  }

  for (const t of refs.targets.values()) {
    const spec = t.doc.spec;
    if (spec.type !== 'mcp') continue;
    (('sql' in spec ? spec.sql : undefined) ?? []).forEach((s, i) => {
      const db = refs.targets.get(s.target);
      if (!db) err(t.origin, `/spec/sql/${i}/target`, `unknown target '${s.target}'`, suggest(s.target, refs.targets.keys()));
      else if (db.doc.spec.type !== 'postgres') err(t.origin, `/spec/sql/${i}/target`, `target '${s.target}' is ${db.doc.spec.type}; SQL arguments are decided on a postgres target`);
    });
  }

  for (const inv of refs.invariants) {
    const scope = inv.doc.spec.scope;
    checkSubjects(inv.origin, '/spec/scope/subjects', scope.subjects ?? []);
    (scope.targets ?? []).forEach((t, i) => {
      if (!refs.targets.has(t)) err(inv.origin, `/spec/scope/targets/${i}`, `unknown target '${t}'`, suggest(t, refs.targets.keys()));
    });
    const all = new Set([...refs.targets.values()].flatMap((t) => (t.doc.spec.classification ?? []).map((c) => c.name)));
    (inv.doc.spec.assert.masked ?? []).forEach((c, i) => {
      if (!all.has(c)) err(inv.origin, `/spec/assert/masked/${i}`, `no target defines classification '${c}'`, suggest(c, all));
    });
  }

  for (const t of refs.tests) {
    t.doc.spec.cases.forEach((c, i) => {
      const base = `/spec/cases/${i}`;
      if (!refs.identities.has(c.as)) err(t.origin, `${base}/as`, `unknown identity '${c.as}'`, suggest(c.as, refs.identities.keys()));
      if (!refs.targets.has(c.target)) err(t.origin, `${base}/target`, `unknown target '${c.target}'`, suggest(c.target, refs.targets.keys()));
      const given = (['sql', 'http', 'k8s', 'mcp'] as const).filter((k) => c[k] !== undefined);
      if (given.length !== 1) err(t.origin, base, `test case '${c.name}' must give exactly one of sql, http, k8s or mcp (has ${given.length})`);
    });
  }
  return out;
}

/** Targets a policy covers: its named targets, or every target whose labels match the selector. */
export function targetsOf(selector: Policy['spec']['targets'], targets: ReadonlyMap<string, Located<Target>>): Located<Target>[] {
  if (Array.isArray(selector)) return selector.map((n) => targets.get(n)).filter((t): t is Located<Target> => !!t);
  const want = Object.entries(selector.labels);
  return [...targets.values()].filter((t) => want.every(([k, v]) => t.doc.metadata.labels?.[k] === v));
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * `tableless` covers statements that name no relation, so resources can never match it; `catalog`
 * covers pg_catalog and information_schema only. A rule saying otherwise does not do what it says.
 */
function explorationResourceErrors(rule: { actions: readonly string[]; resources?: readonly string[] }, err: (pointer: string, message: string, hint: string) => void): void {
  if (rule.actions.includes('tableless')) {
    err(
      '/resources',
      "action 'tableless' covers statements that read no relation, so resources never match it",
      "put 'tableless' in a rule without resources, e.g. { id: explore, effect: allow, actions: [catalog, tableless] }",
    );
  }
  if (rule.actions.includes('catalog')) {
    (rule.resources ?? []).forEach((r, i) => {
      if (!/^(pg_catalog|information_schema)\./.test(r)) {
        err(
          `/resources/${i}`,
          `action 'catalog' covers pg_catalog and information_schema only, so '${r}' never matches it`,
          "name catalog relations schema-qualified (pg_catalog.*, information_schema.tables), or omit resources; tables are allowed with 'select'",
        );
      }
    });
  }
}
