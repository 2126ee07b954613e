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
  /** the bundle is of the files left after setting aside those with loader errors */
  partial?: boolean;
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
  const bundle = result.bundle ?? quarantine(root, files, documents, ctx);
  if (bundle) {
    ctx.bundle = bundle;
    ctx.facts = factsOf(bundle);
  }
  return ctx;
}

/**
 * A loader error must not hide the rest of the repo: set aside every file with an error, load the
 * others, and repeat (shape errors stop the loader before references, reference errors before the
 * bundle), so the remaining files are still checked by every rule. What only follows from a file set
 * aside (a reference to a target defined there) is not reported again. The bundle returned is partial.
 */
function quarantine(root: string, files: readonly SourceFile[], documents: readonly RawDocument[], ctx: LintContext): Bundle | undefined {
  const aside = new Set<string>();
  const names = new Set<string>();
  const seen = new Set(ctx.loader.map(diagnosticKey));
  const loader = [...ctx.loader];
  let errors = ctx.loader.filter((d) => d.severity === 'error');
  for (let round = 0; round < 4 && errors.length > 0; round++) {
    for (const d of errors) aside.add(d.file);
    for (const doc of documents) if (aside.has(doc.file)) for (const n of namesIn(doc.value)) names.add(n);
    const rest = files.filter((f) => !aside.has(f.path));
    if (rest.length === 0) break;
    const next = compileBundle(root, rest, { git: { commit: null, dirty: false } });
    errors = [];
    for (const d of next.diagnostics) {
      if (seen.has(diagnosticKey(d)) || (d.code === 'unresolved-reference' && [...names].some((n) => d.message.includes(`'${n}'`)))) continue;
      seen.add(diagnosticKey(d));
      loader.push(d);
      if (d.severity === 'error') errors.push(d);
    }
    // a file whose errors were all consequences of another file set aside still has to go
    if (!next.bundle && errors.length === 0) for (const d of next.diagnostics) if (d.severity === 'error') errors.push(d);
    if (next.bundle) {
      ctx.loader = loader;
      ctx.partial = true;
      return next.bundle;
    }
  }
  ctx.loader = loader;
  return undefined;
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}:${d.code}:${d.message}`;
}

/** Names a document defines for others to refer to: its metadata.name and, for identities, its groups. */
function namesIn(value: unknown): string[] {
  const v = value as { metadata?: { name?: unknown }; spec?: { groups?: unknown } } | null;
  const out: string[] = [];
  if (typeof v?.metadata?.name === 'string') out.push(v.metadata.name);
  if (Array.isArray(v?.spec?.groups)) for (const g of v.spec.groups) if (typeof g === 'string') out.push(g);
  return out;
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
