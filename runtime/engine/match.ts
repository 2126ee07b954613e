/**
 * Resource patterns and rule conditions, compiled once per bundle. Matching is on normalised
 * strings only; the gateways normalise what they saw on the wire before asking.
 */
import type { Conditions } from '../../schema/types.ts';
import type { TargetType } from '../bundle/model.ts';
import { compileNamePatterns, compilePattern, normaliseRelationPattern, relationName, type NameMatcher } from './pattern.ts';

/** A rule's resources or namespaces: the pattern module's matcher (one meaning of a glob per target type). */
export type Matcher = NameMatcher;

export { normaliseRelationPattern, relationName };

/** `caseInsensitive`: an HTTP target whose upstream routes paths regardless of case (Target spec.paths). */
export function compileMatcher(patterns: readonly string[] | undefined, type: TargetType, opts: { caseInsensitive?: boolean } = {}): Matcher {
  return compileNamePatterns(patterns, type, opts);
}

export interface ConditionInput {
  at: string;
  hasWhere?: boolean;
  statementText?: string;
  path?: string;
  query?: Readonly<Record<string, readonly string[]>>;
  arguments?: unknown;
}

export interface CompiledConditions {
  /** undefined when the rule applies; else a sentence saying which condition failed */
  unmet(input: ConditionInput): string | undefined;
  readonly maxRows?: number;
}

/**
 * The values a query condition on `name` judges: the parameter itself (its `name[]` and `name[0]`
 * spellings are canonicalised to `name` by the request parser) and every nested member
 * `name[key]...`, which frameworks such as qs (Express) and PHP read as parts of `name`.
 */
export function queryValues(query: Readonly<Record<string, readonly string[]>>, name: string): string[] {
  const out = [...(query[name] ?? [])];
  const prefix = `${name}[`;
  for (const [k, vs] of Object.entries(query)) if (k.startsWith(prefix)) out.push(...vs);
  return out;
}

const dayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(at: string, timeZone: string): { day: string; minutes: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const parts = f.formatToParts(new Date(at));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return { day: get('weekday').toLowerCase().slice(0, 3), minutes: Number(get('hour')) * 60 + Number(get('minute')) };
}

export function compileConditions(when: Conditions | undefined): CompiledConditions {
  if (!when) return { unmet: () => undefined };
  const checks: ((input: ConditionInput) => string | undefined)[] = [];
  if (when.requireWhere) {
    checks.push((i) => (i.hasWhere === false ? 'requires a WHERE clause' : undefined));
  }
  if (when.statementPattern !== undefined) {
    const re = compilePattern(when.statementPattern);
    checks.push((i) => (i.statementText !== undefined && !re.test(i.statementText) ? `requires the statement to match /${when.statementPattern}/` : undefined));
  }
  if (when.pathPattern !== undefined) {
    const re = compilePattern(when.pathPattern);
    checks.push((i) => (i.path !== undefined && !re.test(i.path) ? `requires the path to match /${when.pathPattern}/` : undefined));
  }
  for (const [name, condition = ''] of Object.entries(when.query ?? {})) {
    const source = typeof condition === 'string' ? condition : condition.pattern;
    const absentPasses = typeof condition !== 'string' && condition.absent === 'pass';
    const re = compilePattern(source);
    checks.push((i) => {
      if (i.query === undefined) return undefined;
      const values = queryValues(i.query, name);
      // absent fails closed unless the condition says otherwise: leaving a parameter out must not dodge it
      if (values.length === 0) return absentPasses ? undefined : `requires query parameter ${name} (matching /${source}/)`;
      return values.every((v) => re.test(v)) ? undefined : `requires query parameter ${name} to match /${source}/`;
    });
  }
  for (const [path, source = ''] of Object.entries(when.arguments ?? {})) {
    const re = compilePattern(source);
    checks.push((i) => {
      const v = jsonPathValue(i.arguments, path);
      return v !== undefined && re.test(typeof v === 'string' ? v : JSON.stringify(v)) ? undefined : `requires argument ${path} to match /${source}/`;
    });
  }
  if (when.time) {
    const { days, between, timezone = 'UTC' } = when.time;
    const [from, to] = (between ?? '00:00-24:00').split('-').map((hm) => {
      const [h, m] = hm.split(':').map(Number);
      return h! * 60 + m!;
    }) as [number, number];
    checks.push((i) => {
      const t = localTime(i.at, timezone);
      if (days && !days.includes(t.day as (typeof dayNames)[number])) return `applies only on ${days.join(', ')} (${timezone})`;
      const inside = from <= to ? t.minutes >= from && t.minutes < to : t.minutes >= from || t.minutes < to;
      return inside ? undefined : `applies only between ${between} (${timezone})`;
    });
  }
  return {
    unmet(input) {
      for (const c of checks) {
        const r = c(input);
        if (r) return r;
      }
      return undefined;
    },
    ...(when.maxRows !== undefined ? { maxRows: when.maxRows } : {}),
  };
}

/** `$.a.b`, `$.a[0]`, `a.b`: a dotted path into a JSON value (arguments are small). */
export function jsonPathValue(value: unknown, path: string): unknown {
  const segments = path
    .replace(/^\$\.?/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((s) => s !== undefined && s !== '');
  let v: unknown = value;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}
