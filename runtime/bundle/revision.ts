/**
 * A bundle's revision: the git commit it was loaded from (plus whether the work tree differed) and
 * a digest of the canonical merged content, so two gateways can prove they run the same policy.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Revision } from '../engine/decision.ts';

export function gitState(dir: string): { commit: string | null; dirty: boolean } {
  try {
    const opts = { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[], encoding: 'utf8' as const };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=normal', '--', '.'], opts).trim();
    return { commit, dirty: status.length > 0 };
  } catch {
    return { commit: null, dirty: false };
  }
}

/** JSON with sorted keys and no whitespace: the same content always hashes the same (one encoder, the evidence log's). */
export { canonical as canonicalJson } from '../encoding/canonical.ts';
import { canonical as canonicalJson } from '../encoding/canonical.ts';

export function digestOf(documents: readonly unknown[]): string {
  // Documents are sorted by their canonical form so file order and layout do not change the digest.
  const parts = documents.map(canonicalJson).sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

export function makeRevision(dir: string, documents: readonly unknown[], git?: { commit: string | null; dirty: boolean }): Revision {
  const state = git ?? gitState(dir);
  return { commit: state.commit, dirty: state.dirty, digest: digestOf(documents) };
}

/** Short form for messages: `a1b2c3d` or `a1b2c3d+dirty` or `sha256:0123abcd`. */
export function shortRevision(r: Revision): string {
  if (r.commit) return `${r.commit.slice(0, 7)}${r.dirty ? '+dirty' : ''}`;
  return `sha256:${r.digest.slice(0, 12)}`;
}
