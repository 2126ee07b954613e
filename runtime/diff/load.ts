/** The permission diff between a base revision from git history and a head (a revision or the work tree). */
import { resolve as resolvePath } from 'node:path';
import { tryLoadBundle } from '../bundle/load.ts';
import { invalidPolicy } from '../bundle/diagnostics.ts';
import type { Bundle } from '../bundle/model.ts';
import { PortcullisError } from '../errors.ts';
import { bundleAtRef } from '../simulate/git.ts';
import { permissionDiff, type PermissionDiff } from './permissions.ts';

export async function permissionDiffOf(dir: string, baseRef: string, headRef = 'worktree'): Promise<PermissionDiff> {
  const abs = resolvePath(dir);
  const base = bundleAtRef(abs, baseRef);
  if (!base.bundle) {
    throw new PortcullisError('invalid_policy', `the base revision ${baseRef} does not load (${base.diagnostics.filter((d) => d.severity === 'error').length} errors)`, {
      details: { diagnostics: base.diagnostics },
    });
  }
  return permissionDiff(base.bundle, await loadHead(abs, headRef));
}

async function loadHead(dir: string, ref: string): Promise<Bundle> {
  const result = ref === 'worktree' ? await tryLoadBundle(dir) : bundleAtRef(dir, ref);
  if (!result.bundle) throw invalidPolicy(result.diagnostics);
  return result.bundle;
}
