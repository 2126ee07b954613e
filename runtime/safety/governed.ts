/**
 * The repo settings that judge a pull request: the base revision's, except where the head is
 * stricter (a lower maxGrantTtl, a higher coverageThreshold, a stricter gate). What the head relaxes
 * applies from the next pull request on, after the owners approved it and it merged.
 */
import { stringify } from 'yaml';
import type { SourceFile } from '../bundle/load.ts';
import type { Repository } from '../bundle/model.ts';
import { parseDuration } from '../engine/duration.ts';
import { defaultGates } from '../simulate/replay.ts';
import { ChangeKinds, type Gate } from '../simulate/types.ts';

const gateRank: Record<Gate, number> = { pass: 0, warn: 1, fail: 2 };

function ms(v: string | undefined): number {
  if (v === undefined) return Infinity;
  try {
    return parseDuration(v);
  } catch {
    return Infinity;
  }
}

export function governedRepository(base: Repository, head: Repository): Repository {
  const b = base.spec ?? {};
  const h = head.spec ?? {};
  const spec: NonNullable<Repository['spec']> = { ...b };
  const ttl = ms(h.maxGrantTtl) < ms(b.maxGrantTtl) ? h.maxGrantTtl : b.maxGrantTtl;
  if (ttl !== undefined) spec.maxGrantTtl = ttl;
  const threshold = Math.max(b.coverageThreshold ?? -1, h.coverageThreshold ?? -1);
  if (threshold >= 0) spec.coverageThreshold = threshold;
  const gates: NonNullable<NonNullable<Repository['spec']>['gates']> = {};
  for (const k of ChangeKinds) {
    const bg = b.gates?.[k] ?? defaultGates[k];
    const hg = h.gates?.[k] ?? defaultGates[k];
    gates[k] = gateRank[hg] > gateRank[bg] ? hg : bg;
  }
  spec.gates = gates;
  return { ...base, spec };
}

/** The head's files with the repo config replaced by the governed one, for lint and tests. */
export function governedFiles(files: readonly SourceFile[], repository: Repository): SourceFile[] {
  const text = `# the settings that judge this pull request: the base revision's, or the head's where stricter\n${stringify(repository)}`;
  const at = files.findIndex((f) => /^portcullis\.ya?ml$/.test(f.path));
  if (at < 0) return [...files, { path: 'portcullis.yaml', text }];
  return files.map((f, i) => (i === at ? { path: f.path, text } : f));
}
