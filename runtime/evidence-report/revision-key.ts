/**
 * One key per policy state an auditor can name. A clean commit is its SHA; a work tree with
 * uncommitted edits served content no commit holds, so its digest is part of the key and it is
 * never mistaken for the reviewed commit it started from.
 */
import type { Revision } from '../engine/decision.ts';

export interface RevisionKey {
  key: string;
  commit: string | null;
  dirty: boolean;
  digest: string;
}

export function revisionKey(value: unknown): RevisionKey | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Partial<Revision>;
  const commit = typeof r.commit === 'string' && r.commit.length > 0 ? r.commit : null;
  const digest = typeof r.digest === 'string' ? r.digest : '';
  if (commit === null && digest === '') return undefined;
  const dirty = r.dirty === true;
  const short = digest.slice(0, 12) || 'unknown';
  const key = commit === null ? `uncommitted:${short}` : dirty ? `${commit}+dirty:${short}` : commit;
  return { key, commit, dirty, digest };
}

/** `--commit` takes a SHA or any unambiguous prefix of at least 4 characters, like git. */
export function matchesCommit(k: { key: string; commit: string | null }, wanted: string): boolean {
  const w = wanted.toLowerCase();
  return k.key.toLowerCase() === w || (k.commit !== null && w.length >= 4 && k.commit.toLowerCase().startsWith(w));
}
