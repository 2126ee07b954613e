/**
 * Findings carry paths relative to the policy repo; editors, annotations and code scanning want
 * them relative to where the command runs (the checkout root in CI), so reporters rebase them.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export function rebase(root: string, file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, join(resolve(root), file))
    .split('\\')
    .join('/');
  return rel.startsWith('..') ? join(root, file) : rel;
}

/** DIR given, else the current folder if it is a policy repo, else ./policies. */
export function policyDir(given: string | undefined): string {
  if (given) return given;
  return existsSync('portcullis.yaml') || existsSync('portcullis.yml') || !existsSync('policies') ? '.' : 'policies';
}
