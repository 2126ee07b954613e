/**
 * A policy repo as it was at a git revision, read from the object database (`git ls-tree`,
 * `git cat-file --batch`) so the work tree, the index and any checkout are never touched.
 */
import { execFileSync } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { compileBundle, type LoadResult, type SourceFile } from '../bundle/load.ts';
import { PortcullisError } from '../errors.ts';

const skip = new Set(['node_modules', '.git', '.portcullis', 'recordings']);

function git(dir: string, args: string[], input?: string): Buffer {
  try {
    return execFileSync('git', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new PortcullisError('failed_precondition', `git ${args.join(' ')} failed: ${stderr || (err as Error).message}`, {
      cause: err,
      details: { hint: 'run inside a git clone with the base revision fetched (in CI: actions/checkout with fetch-depth: 0)' },
    });
  }
}

export function resolveCommit(dir: string, ref: string): string {
  return git(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])
    .toString()
    .trim();
}

/** The YAML files of the policy folder `dir` as of `ref`, with repo-relative paths like the loader's. */
export function filesAtRef(dir: string, ref: string): SourceFile[] {
  const abs = resolvePath(dir);
  const prefix = git(abs, ['rev-parse', '--show-prefix']).toString().trim();
  const commit = resolveCommit(abs, ref);
  const listing = git(abs, ['ls-tree', '-r', '-z', '--name-only', '--full-tree', commit, '--', prefix === '' ? '.' : prefix]).toString();
  const paths = listing
    .split('\0')
    .filter((p) => p.startsWith(prefix) && /\.ya?ml$/.test(p))
    .map((p) => p.slice(prefix.length))
    .filter((p) => !p.split('/').some((seg, i, all) => (i < all.length - 1 && skip.has(seg)) || seg.startsWith('.')))
    .sort();
  if (paths.length === 0) return [];
  const out = git(abs, ['cat-file', '--batch'], paths.map((p) => `${commit}:${prefix}${p}\n`).join(''));
  const files: SourceFile[] = [];
  let offset = 0;
  for (const path of paths) {
    const nl = out.indexOf(0x0a, offset);
    const header = out.subarray(offset, nl).toString();
    const size = Number(header.split(' ')[2]);
    if (!Number.isFinite(size)) throw new PortcullisError('internal', `unexpected git cat-file output for ${path}: ${header}`);
    files.push({ path, text: out.subarray(nl + 1, nl + 1 + size).toString('utf8') });
    offset = nl + 1 + size + 1;
  }
  return files;
}

export function bundleAtRef(dir: string, ref: string): LoadResult & { commit: string } {
  const commit = resolveCommit(dir, ref);
  const result = compileBundle(resolvePath(dir), filesAtRef(dir, commit), { git: { commit, dirty: false } });
  return { ...result, commit };
}

/** The repo root and the policy folder's path inside it (`policies/`, or '' at the root). */
export function repoLayout(dir: string): { top: string; prefix: string } | undefined {
  try {
    const abs = resolvePath(dir);
    return { top: git(abs, ['rev-parse', '--show-toplevel']).toString().trim(), prefix: git(abs, ['rev-parse', '--show-prefix']).toString().trim() };
  } catch {
    return undefined;
  }
}

/** Files under `path` (relative to the policy folder `dir`) at `ref`, with their text; [] when absent. */
export function treeAtRef(dir: string, ref: string, path: string, accept: (p: string) => boolean = () => true): SourceFile[] {
  const abs = resolvePath(dir);
  const prefix = git(abs, ['rev-parse', '--show-prefix']).toString().trim();
  const commit = resolveCommit(abs, ref);
  const full = `${prefix}${path.replace(/^\.\/?/, '').replace(/\/$/, '')}`;
  const listing = git(abs, ['ls-tree', '-r', '-z', '--name-only', '--full-tree', commit, '--', full === '' ? '.' : full]).toString();
  const paths = listing
    .split('\0')
    .filter((p) => p !== '' && (p === full || p.startsWith(`${full}/`)) && accept(p))
    .sort();
  return paths.map((p) => ({ path: p, text: git(abs, ['cat-file', 'blob', `${commit}:${p}`]).toString('utf8') }));
}

/** One file of the repo (path from the repo root) at `ref`, or undefined when it does not exist there. */
export function fileAtRef(dir: string, ref: string, repoPath: string): string | undefined {
  const abs = resolvePath(dir);
  const commit = resolveCommit(abs, ref);
  try {
    return execFileSync('git', ['cat-file', 'blob', `${commit}:${repoPath}`], { cwd: abs, stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  } catch {
    return undefined;
  }
}
