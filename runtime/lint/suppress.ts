/**
 * In-file suppressions: `suppress: [{rule, reason}]` on a document's spec silences that lint rule
 * anywhere in the document; on a policy rule, only inside that rule. Every suppression must earn
 * its keep: one that silences nothing is reported, so stale ones cannot hide future findings.
 */
import type { Origin } from '../bundle/model.ts';
import type { LintContext } from './context.ts';

export interface Suppression {
  rule: string;
  reason: string;
  origin: Origin;
  /** pointer of the suppress entry, for reporting it */
  pointer: string;
  /** findings at pointers under this prefix are covered ('' = the whole document) */
  scope: string;
  used: boolean;
}

type Suppressible = { origin: Origin; doc: { spec?: { suppress?: { rule: string; reason: string }[]; rules?: { suppress?: { rule: string; reason: string }[] }[] } } };

export function collectSuppressions(ctx: LintContext): Suppression[] {
  const out: Suppression[] = [];
  const b = ctx.bundle;
  if (!b) return out;
  const docs: Suppressible[] = [...b.targets.values(), ...b.identities.values(), ...b.policies, ...b.invariants] as Suppressible[];
  for (const d of docs) {
    (d.doc.spec?.suppress ?? []).forEach((s, i) => out.push({ ...s, origin: d.origin, pointer: `/spec/suppress/${i}`, scope: '', used: false }));
    (d.doc.spec?.rules ?? []).forEach((r, ri) =>
      (r.suppress ?? []).forEach((s, i) => out.push({ ...s, origin: d.origin, pointer: `/spec/rules/${ri}/suppress/${i}`, scope: `/spec/rules/${ri}`, used: false })),
    );
  }
  return out;
}

export function sameDocument(a: Origin, b: Origin): boolean {
  return a.file === b.file && a.line === b.line && a.column === b.column;
}

/** The suppression covering a finding of `rule` at (origin, pointer), if any. */
export function suppressionFor(list: readonly Suppression[], rule: string, origin: Origin, pointer: string | undefined): Suppression | undefined {
  return list.find((s) => s.rule === rule && sameDocument(s.origin, origin) && (s.scope === '' || (pointer !== undefined && (pointer === s.scope || pointer.startsWith(`${s.scope}/`)))));
}
