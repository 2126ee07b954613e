/**
 * CODEOWNERS names who owns the safety configuration: the repo config, the files holding invariants
 * and policy tests, the recordings, CODEOWNERS itself and the workflows. GitHub asks those owners
 * for review (and, with branch protection, requires it); `portcullis ci github` reads the base
 * revision's CODEOWNERS to know whose approval passes a change to the safety configuration.
 * Patterns follow GitHub's rules: gitignore-style globs, the last matching line wins.
 */
import type { Bundle } from '../bundle/model.ts';
import { isAbsolute } from 'node:path';
import { compileRepositoryPathPattern } from '../engine/pattern.ts';

export const CODEOWNERS_PATHS = ['.github/CODEOWNERS', 'CODEOWNERS', 'docs/CODEOWNERS'] as const;
const BEGIN = '# portcullis:safety-begin';
const END = '# portcullis:safety-end';

export interface OwnerLine {
  pattern: string;
  owners: string[];
  line: number;
}

export function parseCodeowners(text: string): OwnerLine[] {
  const out: OwnerLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) return;
    const [pattern, ...owners] = line.split(/\s+/);
    out.push({ pattern: pattern!, owners: owners.filter((o) => o.startsWith('@') || o.includes('@')), line: i + 1 });
  });
  return out;
}

/** The owners of a repo-relative path: the last matching line's (an empty owner list un-owns it). */
export function ownersOf(lines: readonly OwnerLine[], path: string): string[] {
  let owners: string[] = [];
  for (const l of lines) if (compileRepositoryPathPattern(l.pattern).test(path)) owners = l.owners;
  return owners;
}

/**
 * The safety files of the policy repo at `prefix` (the policy folder's path in the git repo, `''`
 * or `policies/`), as CODEOWNERS patterns: one per file that holds the repo config, an Invariant or
 * a PolicyTest, the recordings folder when it lives in the repo, CODEOWNERS and the workflows.
 */
export function safetyPaths(bundle: Bundle, prefix: string, codeownersPath: string): string[] {
  const files = new Set<string>();
  const repoFile = `/${prefix}${bundle.files.find((f) => /^portcullis\.ya?ml$/.test(f)) ?? 'portcullis.yaml'}`;
  for (const i of bundle.invariants) files.add(`/${prefix}${i.origin.file}`);
  for (const t of bundle.tests) files.add(`/${prefix}${t.origin.file}`);
  files.delete(repoFile);
  // The repo config first: its owners are the designated owners.
  const out = [repoFile, ...[...files].sort()];
  const recordings = bundle.repository.spec?.recordings;
  if (recordings && !/^https?:\/\//i.test(recordings) && !isAbsolute(recordings)) out.push(`/${prefix}${recordings.replace(/^\.\//, '').replace(/\/$/, '')}/`);
  out.push(`/${codeownersPath}`, '/.github/workflows/');
  return out;
}

/** The repo's CODEOWNERS with the managed block set to `owners` for every safety path (kept last, so it wins). */
export function writeSafetyBlock(existing: string | undefined, paths: readonly string[], owners: readonly string[]): string {
  const block = [`${BEGIN} (written by \`portcullis codeowners\`: the owners who approve changes to the policy safety configuration)`, ...paths.map((p) => `${p} ${owners.join(' ')}`), END].join('\n');
  const text = existing ?? '';
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start >= 0 && end > start) {
    const rest = `${text.slice(0, start)}${text.slice(end + END.length).replace(/^\n/, '')}`.replace(/\n*$/, '');
    return `${rest ? `${rest}\n\n` : ''}${block}\n`;
  }
  return `${text.replace(/\n*$/, '')}${text.trim() ? '\n\n' : ''}${block}\n`;
}

/** The owners of the managed block, if there is one. */
export function blockOwners(text: string): string[] {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return [];
  const lines = parseCodeowners(text.slice(start, end));
  return lines[0]?.owners ?? [];
}

export interface CodeownersProblem {
  path: string;
  message: string;
}

/** Every safety path owned by the designated owners (those of the repo config); what is not. */
export function checkCodeowners(text: string | undefined, paths: readonly string[]): { owners: string[]; problems: CodeownersProblem[] } {
  if (text === undefined) return { owners: [], problems: [{ path: paths[0] ?? 'portcullis.yaml', message: 'the repo has no CODEOWNERS file' }] };
  const lines = parseCodeowners(text);
  const probe = (p: string) => (p.endsWith('/') ? `${p.slice(1)}x` : p.slice(1));
  const owners = ownersOf(lines, probe(paths[0]!));
  const problems: CodeownersProblem[] = [];
  if (owners.length === 0) problems.push({ path: paths[0]!, message: `${paths[0]} has no owner` });
  for (const p of paths.slice(1)) {
    const got = ownersOf(lines, probe(p));
    if (owners.length && !owners.every((o) => got.includes(o))) problems.push({ path: p, message: `${p} is owned by ${got.join(' ') || 'nobody'}, not by the safety owners ${owners.join(' ')}` });
  }
  return { owners, problems };
}
