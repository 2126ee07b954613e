/**
 * Everything a lint rule may look at, computed once per run: the files, every YAML document as
 * written (so text-level rules work even when the bundle does not compile), the loader's
 * diagnostics, and the compiled bundle with the derived facts several rules share.
 */
import { compileBundle, type LoadResult, type SourceFile } from '../bundle/load.ts';
import type { Diagnostic } from '../bundle/diagnostics.ts';
import type { Bundle, Located, Origin, Policy, Target, TargetType } from '../bundle/model.ts';
import { parseYamlFile } from '../bundle/yaml-source.ts';
import { targetsOf } from '../bundle/resolve.ts';

export interface RawDocument {
  file: string;
  value: unknown;
  origin: Origin;
}

export interface RuleEntry {
  policy: Located<Policy>;
  rule: Policy['spec']['rules'][number];
  index: number;
  /** JSON pointer of the rule in its document */
  pointer: string;
  targets: Located<Target>[];
  types: Set<TargetType>;
  /** identities the policy's subjects reach, directly or through a group */
  identities: Set<string>;
}

export interface LintContext {
  root: string;
  files: readonly SourceFile[];
  documents: readonly RawDocument[];
  loader: readonly Diagnostic[];
  bundle?: Bundle;
  /** present with the bundle */
  facts?: Facts;
}

export interface Facts {
  rules: RuleEntry[];
  /** group -> identities in it */
  members: Map<string, Set<string>>;
  agents: Set<string>;
  humans: Set<string>;
}

/** `compiled`: the loader's result for these files when the caller has it (the gateway's bundle gate). */
export function buildContext(root: string, files: readonly SourceFile[], compiled?: LoadResult): LintContext {
  const documents: RawDocument[] = [];
  const include = includeOf(files);
  for (const f of files) {
    if (include && !/^portcullis\.ya?ml$/.test(f.path) && !include.some((d) => f.path.startsWith(d))) continue;
    for (const d of parseYamlFile(f.path, f.text).documents) {
      documents.push({ file: f.path, value: d.value, origin: { file: f.path, ...d.locate(''), locate: d.locate } });
    }
  }
  const result = compiled ?? compileBundle(root, files, { git: { commit: null, dirty: false } });
  const ctx: LintContext = { root, files, documents, loader: result.diagnostics };
  if (result.bundle) {
    ctx.bundle = result.bundle;
    ctx.facts = factsOf(result.bundle);
  }
  return ctx;
}

function includeOf(files: readonly SourceFile[]): string[] | undefined {
  const config = files.find((f) => /^portcullis\.ya?ml$/.test(f.path));
  if (!config) return undefined;
  const value = parseYamlFile(config.path, config.text).documents[0]?.value as { spec?: { include?: unknown } } | undefined;
  if (!Array.isArray(value?.spec?.include)) return undefined;
  return value.spec.include.map((d) => String(d).replace(/^\.\//, '').replace(/\/?$/, '/'));
}

function factsOf(bundle: Bundle): Facts {
  const members = new Map<string, Set<string>>();
  const agents = new Set<string>();
  const humans = new Set<string>();
  for (const [name, i] of bundle.identities) {
    (i.doc.spec.kind === 'agent' ? agents : humans).add(name);
    for (const g of i.doc.spec.groups ?? []) {
      let set = members.get(g);
      if (!set) members.set(g, (set = new Set()));
      set.add(name);
    }
  }
  const rules: RuleEntry[] = [];
  for (const policy of bundle.policies) {
    const targets = targetsOf(policy.doc.spec.targets, bundle.targets);
    const identities = reached(policy.doc.spec.subjects, members);
    policy.doc.spec.rules.forEach((rule, index) => {
      rules.push({
        policy,
        rule,
        index,
        pointer: `/spec/rules/${index}`,
        targets,
        types: new Set(targets.map((t) => t.doc.spec.type)),
        identities,
      });
    });
  }
  return { rules, members, agents, humans };
}

export function reached(subjects: readonly { identity?: string; group?: string }[], members: Map<string, Set<string>>): Set<string> {
  const out = new Set<string>();
  for (const s of subjects) {
    if (s.identity !== undefined) out.add(s.identity);
    if (s.group !== undefined) for (const m of members.get(s.group) ?? []) out.add(m);
  }
  return out;
}

/** `policy/rule`, the way decisions and tests name a rule. */
export function ruleName(e: RuleEntry): string {
  return `${e.policy.doc.metadata.name}/${e.rule.id}`;
}

/** Every string in a document with its JSON pointer; keys are visited as `{key}` entries. */
export function* stringsOf(value: unknown, pointer = ''): Generator<{ pointer: string; value: string; key?: boolean }> {
  if (typeof value === 'string') yield { pointer, value };
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) yield* stringsOf(value[i], `${pointer}/${i}`);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      yield { pointer: p, value: k, key: true };
      yield* stringsOf(v, p);
    }
  }
}
