/**
 * The bundle compiled for fast decisions. Rules are bucketed by target, then by subject (identity
 * or group), then by action, so a decision only looks at rules that could possibly apply: the cost
 * of a decision depends on the rules for this subject, target and action, not on the bundle's size.
 */
import type { Located, Policy, Target, TargetType } from '../bundle/model.ts';
import { targetsOf } from '../bundle/resolve.ts';
import type { Effect, Mask, ReviewRequirement, RuleRef, SessionLimits } from './decision.ts';
import { compileConditions, compileMatcher, type CompiledConditions, type Matcher } from './match.ts';
import { parseDuration } from './duration.ts';
import { normaliseColumnPattern } from './pattern.ts';

export interface CompiledRule {
  /** position in a total order independent of file layout: (policy name, rule index) */
  readonly serial: number;
  readonly ref: RuleRef;
  readonly effect: Effect;
  readonly resources: Matcher;
  readonly namespaces: Matcher;
  readonly conditions: CompiledConditions;
  readonly masks: readonly Mask[];
  readonly review?: ReviewRequirement;
}

type ActionBuckets = Map<string, CompiledRule[]>;

export interface TargetIndex {
  readonly name: string;
  readonly type: TargetType;
  /** masks every decision on this target carries: the target's classifications */
  readonly classificationMasks: readonly Mask[];
  /** `i:<identity>` or `g:<group>` -> action (or `*`) -> rules in serial order */
  readonly bySubject: ReadonlyMap<string, ActionBuckets>;
  readonly limits: readonly { keys: readonly string[]; limits: SessionLimits }[];
  /** some rule on this target has a time window: the same request may be decided differently later */
  readonly timeDependent: boolean;
  /** some rule on this target matches the statement's text: decisions cannot be shared between texts */
  readonly textDependent: boolean;
}

export interface CompiledIndex {
  readonly targets: ReadonlyMap<string, TargetIndex>;
  readonly ruleCount: number;
}

interface Compilable {
  targets: ReadonlyMap<string, Located<Target>>;
  policies: readonly Located<Policy>[];
}

export function subjectKey(s: { identity?: string; group?: string }): string {
  return s.identity !== undefined ? `i:${s.identity}` : `g:${s.group}`;
}

export function classificationMasks(target: Target): Mask[] {
  const out: Mask[] = [];
  for (const c of target.spec.classification ?? []) {
    const source = `classification:${c.name}`;
    for (const col of c.columns ?? []) out.push({ kind: 'column', pattern: normaliseColumnPattern(col), strategy: c.strategy, source });
    for (const f of c.fields ?? []) out.push({ kind: 'field', pattern: f, strategy: c.strategy, source });
    if (c.secretData) out.push({ kind: 'secret-data', pattern: '*', strategy: c.strategy, source });
    for (const d of c.content ?? []) out.push({ kind: 'content', pattern: d, strategy: c.strategy, source });
  }
  return out;
}

export { normaliseColumnPattern };

function ruleMasks(rule: Policy['spec']['rules'][number], ref: RuleRef, target: Target): Mask[] {
  const source = `${ref.policy}/${ref.rule}`;
  const out: Mask[] = [];
  for (const m of rule.mask ?? []) {
    for (const col of m.columns ?? []) out.push({ kind: 'column', pattern: normaliseColumnPattern(col), strategy: m.strategy, source });
    for (const f of m.fields ?? []) out.push({ kind: 'field', pattern: f, strategy: m.strategy, source });
    for (const d of m.content ?? []) out.push({ kind: 'content', pattern: d, strategy: m.strategy, source });
    for (const name of m.classifications ?? []) {
      const c = (target.spec.classification ?? []).find((x) => x.name === name);
      if (!c) continue;
      for (const col of c.columns ?? []) out.push({ kind: 'column', pattern: normaliseColumnPattern(col), strategy: m.strategy, source });
      for (const f of c.fields ?? []) out.push({ kind: 'field', pattern: f, strategy: m.strategy, source });
      if (c.secretData) out.push({ kind: 'secret-data', pattern: '*', strategy: m.strategy, source });
      for (const d of c.content ?? []) out.push({ kind: 'content', pattern: d, strategy: m.strategy, source });
    }
  }
  return out;
}

export function compileIndex(bundle: Compilable): CompiledIndex {
  const targets = new Map<
    string,
    {
      name: string;
      type: TargetType;
      classificationMasks: Mask[];
      bySubject: Map<string, ActionBuckets>;
      limits: { keys: string[]; limits: SessionLimits }[];
      timeDependent: boolean;
      textDependent: boolean;
    }
  >();
  for (const [name, t] of bundle.targets) {
    targets.set(name, { name, type: t.doc.spec.type, classificationMasks: classificationMasks(t.doc), bySubject: new Map(), limits: [], timeDependent: false, textDependent: false });
  }
  let serial = 0;
  let ruleCount = 0;
  // Policies arrive sorted by name, so serials (and therefore reported rule order) ignore file layout.
  for (const policy of bundle.policies) {
    const spec = policy.doc.spec;
    const keys = spec.subjects.map(subjectKey);
    const covered = targetsOf(spec.targets, bundle.targets);
    for (const t of covered) {
      const idx = targets.get(t.doc.metadata.name)!;
      if (spec.sessionLimits) {
        const limits: SessionLimits = {};
        if (spec.sessionLimits.maxDuration) limits.maxDurationMs = parseDuration(spec.sessionLimits.maxDuration);
        if (spec.sessionLimits.idleTimeout) limits.idleTimeoutMs = parseDuration(spec.sessionLimits.idleTimeout);
        idx.limits.push({ keys, limits });
      }
    }
    spec.rules.forEach((rule, r) => {
      ruleCount++;
      const pos = policy.origin.locate(`/spec/rules/${r}`);
      const ref: RuleRef = { policy: policy.doc.metadata.name, rule: rule.id, file: policy.origin.file, line: pos.line };
      const ruleSerial = serial++;
      for (const t of covered) {
        const idx = targets.get(t.doc.metadata.name)!;
        if (rule.when?.time) idx.timeDependent = true;
        if (rule.when?.statementPattern !== undefined) idx.textDependent = true;
        const review: ReviewRequirement | undefined = rule.review
          ? {
              rule: ref,
              approverGroups: rule.review.approvers.groups,
              count: rule.review.approvers.count ?? 1,
              ...(rule.review.grant ? { grantTtlMs: parseDuration(rule.review.grant.ttl), grantScope: rule.review.grant.scope ?? 'rule' } : {}),
              ...(rule.review.requireReason ? { requireReason: true } : {}),
            }
          : undefined;
        const compiled: CompiledRule = {
          serial: ruleSerial,
          ref,
          effect: rule.effect,
          resources: compileMatcher(rule.resources, idx.type, { caseInsensitive: t.doc.spec.type === 'http' && t.doc.spec.paths?.caseSensitive === false }),
          namespaces: compileMatcher(rule.namespaces, 'kubernetes'),
          conditions: compileConditions(rule.when),
          masks: ruleMasks(rule, ref, t.doc),
          ...(review ? { review } : {}),
        };
        const actions = rule.actions.includes('*') ? ['*'] : rule.actions;
        for (const key of keys) {
          let buckets = idx.bySubject.get(key);
          if (!buckets) idx.bySubject.set(key, (buckets = new Map()));
          for (const a of actions) {
            let list = buckets.get(a);
            if (!list) buckets.set(a, (list = []));
            list.push(compiled);
          }
        }
      }
    });
  }
  return { targets, ruleCount };
}
