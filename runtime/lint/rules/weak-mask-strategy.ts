import type { LintRule, RawFinding } from '../types.ts';
import type { Located, Target } from '../../bundle/model.ts';

/** Values where any revealed part is a usable credential. */
const credential = /(?:^|[._$*\]-])(pass(word|wd)?|secret|token|api_?key|private_?key|credentials?)$/i;

export default {
  id: 'weak-mask-strategy',
  severity: 'warning',
  title: 'Credentials are masked with a strategy that reveals part of them',
  explanation:
    '`partial` keeps part of a value readable (the last digits of a card number) and `hash` keeps equal values linkable; both are fine for identifiers and personal data, and wrong for credentials, where any revealed part shortens a brute force and a stable hash can be replayed. Kubernetes Secret data, the `token` content detector and columns or fields named like passwords, secrets, tokens or keys should be masked with `redact` or `null`, both in classifications and in rule masks.',
  fix: 'Use strategy: redact (or null) for credentials.',
  check(ctx) {
    const out: RawFinding[] = [];
    const bundle = ctx.bundle;
    if (!bundle) return out;
    const check = (
      origin: Located<Target>['origin'],
      pointer: string,
      strategy: string,
      m: { columns?: readonly string[]; fields?: readonly string[]; content?: readonly string[]; secretData?: boolean },
    ) => {
      if (strategy === 'redact' || strategy === 'null') return;
      const what = [
        ...(m.secretData ? ['Secret data'] : []),
        ...(m.content ?? []).filter((c) => c === 'token').map(() => 'token content'),
        ...[...(m.columns ?? []), ...(m.fields ?? [])].filter((p) => credential.test(p)),
      ];
      if (what.length > 0) out.push({ message: `${what.join(', ')} masked with '${strategy}', which reveals part of a credential`, at: { origin, pointer: `${pointer}/strategy` } });
    };
    for (const t of bundle.targets.values()) {
      (t.doc.spec.classification ?? []).forEach((c, i) => check(t.origin, `/spec/classification/${i}`, c.strategy, c));
    }
    for (const p of bundle.policies) {
      p.doc.spec.rules.forEach((r, ri) => (r.mask ?? []).forEach((m, mi) => check(p.origin, `/spec/rules/${ri}/mask/${mi}`, m.strategy, m)));
    }
    return out;
  },
} satisfies LintRule;
