/**
 * Loading a policy repo: read every YAML file, validate each document against its schema, resolve
 * references, and compile one immutable Bundle. Any error anywhere means no bundle: the caller
 * keeps serving the last good one (fail closed), and the diagnostics say exactly what to fix.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve as resolvePath, sep } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { invalidPolicy, type Diagnostic } from './diagnostics.ts';
import { parseYamlFile, type SourceDocument } from './yaml-source.ts';
import { DocumentKinds, validateDocument, type DocumentKind } from './schemas.ts';
import { makeRevision, gitState } from './revision.ts';
import { resolveReferences } from './resolve.ts';
import { compileIndex } from '../engine/compile.ts';
import type { Bundle, Located, Origin, Repository, Target, Identity, Policy, Invariant, PolicyTest } from './model.ts';

export interface SourceFile {
  /** repo-relative path with forward slashes */
  path: string;
  text: string;
}

export interface LoadOptions {
  /** git state to stamp instead of asking git (the simulator loads historic revisions) */
  git?: { commit: string | null; dirty: boolean };
}

export interface LoadResult {
  bundle?: Bundle;
  diagnostics: Diagnostic[];
}

const skipDirs = new Set(['node_modules', '.git', '.portcullis', 'recordings']);

/** Every policy file under `root`, honouring the repo config's `include`. */
export async function readPolicyFiles(root: string): Promise<SourceFile[]> {
  const abs = resolvePath(root);
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new PortcullisError('not_found', `policy directory ${root} does not exist`, {
      // lint, test and simulate take the folder as an argument; gateway, up and decide as --policies.
      details: { hint: 'pass the folder of your policy repo (portcullis lint DIR, portcullis test DIR; --policies DIR for gateway, up and decide)' },
    });
  }
  const out: SourceFile[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.name.startsWith('.') || skipDirs.has(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && /\.ya?ml$/.test(e.name)) {
        out.push({ path: relative(abs, p).split(sep).join('/'), text: await readFile(p, 'utf8') });
      }
    }
  }
  await walk(abs);
  return out;
}

export async function loadBundle(root: string, options: LoadOptions = {}): Promise<Bundle> {
  const result = await tryLoadBundle(root, options);
  if (!result.bundle) throw invalidPolicy(result.diagnostics, root);
  return result.bundle;
}

export async function tryLoadBundle(root: string, options: LoadOptions = {}): Promise<LoadResult> {
  const files = await readPolicyFiles(root);
  return compileBundle(resolvePath(root), files, { git: options.git ?? gitState(resolvePath(root)) });
}

interface Parsed {
  kind: DocumentKind;
  value: Record<string, unknown>;
  origin: Origin;
}

/** Pure: files in, bundle or diagnostics out. Used by the loader, the simulator and the tests. */
export function compileBundle(root: string, files: readonly SourceFile[], options: LoadOptions = {}): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const parsed: Parsed[] = [];
  const repoConfig = files.find((f) => f.path === 'portcullis.yaml' || f.path === 'portcullis.yml');
  const include = includeFolders(repoConfig);

  for (const file of files) {
    if (include && file !== repoConfig && !include.some((dir) => file.path.startsWith(dir))) continue;
    const { documents, problems } = parseYamlFile(file.path, file.text);
    for (const p of problems) {
      diagnostics.push({ code: 'yaml', severity: 'error', message: `YAML syntax: ${p.message}`, file: p.file, line: p.line, column: p.column, ...(p.hint ? { hint: p.hint } : {}) });
    }
    for (const d of documents) {
      const doc = classify(d, diagnostics);
      if (doc) parsed.push(doc);
    }
  }

  const byKind = <K extends DocumentKind, T>(kind: K) => parsed.filter((p) => p.kind === kind).map((p) => ({ doc: p.value as unknown as T, origin: p.origin }));
  const repositories = byKind<'Repository', Repository>('Repository');
  if (repositories.length > 1) {
    for (const r of repositories.slice(1)) diagnostics.push(at(r.origin, 'duplicate', 'a repo has one Repository document (portcullis.yaml)'));
  }
  const repository: Repository = repositories[0]?.doc ?? {
    apiVersion: 'portcullis.dev/v1',
    kind: 'Repository',
    metadata: { name: 'policies' },
  };

  const targets = uniqueByName(byKind<'Target', Target>('Target'), 'Target', diagnostics);
  const identities = uniqueByName(byKind<'Identity', Identity>('Identity'), 'Identity', diagnostics);
  const policies = byKind<'Policy', Policy>('Policy');
  const invariants = byKind<'Invariant', Invariant>('Invariant');
  const tests = byKind<'PolicyTest', PolicyTest>('PolicyTest');
  uniqueByName(policies, 'Policy', diagnostics);
  uniqueByName(invariants, 'Invariant', diagnostics);
  uniqueByName(tests, 'PolicyTest', diagnostics);

  // Reference resolution only makes sense once every document has the right shape.
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const groups = new Set<string>();
  for (const i of identities.values()) for (const g of i.doc.spec.groups ?? []) groups.add(g);
  diagnostics.push(...resolveReferences({ targets, identities, policies, invariants, tests, groups }));
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };

  const revision = makeRevision(
    root,
    parsed.map((p) => p.value),
    options.git ?? { commit: null, dirty: false },
  );
  const partial = {
    root,
    revision,
    repository,
    targets,
    identities,
    policies: sortByName(policies),
    invariants: sortByName(invariants),
    tests: sortByName(tests),
    groups,
    files: files.map((f) => f.path),
  };
  const bundle: Bundle = deepFreeze({ ...partial, index: compileIndex(partial) });
  return { bundle, diagnostics };
}

function includeFolders(config: SourceFile | undefined): string[] | undefined {
  if (!config) return undefined;
  const { documents } = parseYamlFile(config.path, config.text);
  const spec = (documents[0]?.value as { spec?: { include?: unknown } } | undefined)?.spec;
  if (!Array.isArray(spec?.include)) return undefined;
  return spec.include.map((d) => String(d).replace(/^\.\//, '').replace(/\/?$/, '/'));
}

function classify(d: SourceDocument, diagnostics: Diagnostic[]): Parsed | undefined {
  const origin: Origin = { file: d.file, ...d.locate(''), locate: d.locate };
  const value = d.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    diagnostics.push(at(origin, 'schema', 'a policy document must be a mapping with apiVersion, kind, metadata and spec'));
    return undefined;
  }
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(DocumentKinds as readonly string[]).includes(kind)) {
    const pos = d.locate('/kind');
    diagnostics.push({
      code: 'schema',
      severity: 'error',
      file: d.file,
      ...pos,
      message: kind === undefined ? 'document has no kind' : `unknown kind ${JSON.stringify(kind)}`,
      hint: `kind is one of ${DocumentKinds.join(', ')}`,
    });
    return undefined;
  }
  const problems = validateDocument(kind as DocumentKind, value);
  for (const p of problems) {
    const pos = d.locate(p.pointer, { key: p.atKey ?? false });
    diagnostics.push({
      code: p.message.includes('inline secret') ? 'inline-secret' : 'schema',
      severity: 'error',
      file: d.file,
      ...pos,
      message: p.message,
      ...(p.hint ? { hint: p.hint } : {}),
    });
  }
  if (problems.length > 0) return undefined;
  return { kind: kind as DocumentKind, value: value as Record<string, unknown>, origin };
}

function uniqueByName<T extends { metadata: { name: string } }>(docs: Located<T>[], kind: string, diagnostics: Diagnostic[]): Map<string, Located<T>> {
  const map = new Map<string, Located<T>>();
  for (const d of docs) {
    const name = d.doc.metadata.name;
    const prior = map.get(name);
    if (prior) {
      const here = { ...d.origin, ...d.origin.locate('/metadata/name') };
      const there = prior.origin.locate('/metadata/name');
      diagnostics.push(at(here, 'duplicate', `${kind} '${name}' is already defined at ${prior.origin.file}:${there.line}`));
      continue;
    }
    map.set(name, d);
  }
  return new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function sortByName<T extends { metadata: { name: string } }>(docs: Located<T>[]): Located<T>[] {
  return [...docs].sort((a, b) => (a.doc.metadata.name < b.doc.metadata.name ? -1 : a.doc.metadata.name > b.doc.metadata.name ? 1 : 0));
}

function at(origin: Origin, code: string, message: string, hint?: string): Diagnostic {
  return { code, severity: 'error', file: origin.file, line: origin.line, column: origin.column, message, ...(hint ? { hint } : {}) };
}

function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (value && typeof value === 'object' && !seen.has(value as object)) {
    seen.add(value as object);
    if (value instanceof Map || value instanceof Set) {
      // Map/Set contents are frozen; the containers themselves are exposed as Readonly types.
      for (const v of value.values()) deepFreeze(v, seen);
      if (value instanceof Map) for (const k of value.keys()) deepFreeze(k, seen);
    } else if (typeof value !== 'function') {
      for (const v of Object.values(value as object)) deepFreeze(v, seen);
      Object.freeze(value);
    }
  }
  return value;
}
