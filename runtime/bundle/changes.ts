/**
 * What a new bundle changed against the one it replaces, as the bundle history shows it: rules
 * added, removed or changed (by `policy/rule`; a change of the policy's subjects or targets changes
 * each of its rules), and other documents (targets, identities, invariants, tests) by `Kind/name`.
 * A summary for people, not a permission diff: which requests change decision is `portcullis diff`
 * and `portcullis simulate`. Also the commit's subject and the pull request that merged it, when the
 * commit message says (`Merge pull request #12 ...`, or `... (#12)` for a squash merge).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
import type { Bundle } from './model.ts';
import { canonicalJson } from './revision.ts';

export interface ChangeList {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface BundleChanges {
  rules: ChangeList;
  documents: ChangeList;
}

/** Lists are cut here so one record stays small; `more` says how many were left out. */
const MAX_NAMES = 50;

function compare(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): ChangeList {
  const out: ChangeList = { added: [], removed: [], changed: [] };
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === undefined) out.added.push(k);
    else if (old !== v) out.changed.push(k);
  }
  for (const k of before.keys()) if (!after.has(k)) out.removed.push(k);
  for (const list of [out.added, out.removed, out.changed]) {
    list.sort();
    if (list.length > MAX_NAMES) list.splice(MAX_NAMES, list.length, `… ${list.length - MAX_NAMES} more`);
  }
  return out;
}

function rulesOf(b: Bundle | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of b?.policies ?? []) {
    const { rules, ...scope } = p.doc.spec;
    const scopeJson = canonicalJson(scope);
    for (const r of rules) out.set(`${p.doc.metadata.name}/${r.id}`, `${scopeJson}\n${canonicalJson(r)}`);
  }
  return out;
}

function documentsOf(b: Bundle | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!b) return out;
  const docs = [...b.targets.values(), ...b.identities.values(), ...b.invariants, ...b.tests].map((l) => l.doc as { kind: string; metadata: { name: string } });
  for (const d of docs) out.set(`${d.kind}/${d.metadata.name}`, canonicalJson(d));
  return out;
}

export function bundleChanges(before: Bundle | undefined, after: Bundle): BundleChanges {
  return { rules: compare(rulesOf(before), rulesOf(after)), documents: compare(documentsOf(before), documentsOf(after)) };
}

export interface CommitInfo {
  subject?: string;
  pullRequest?: { number: number; url?: string };
}

/**
 * The commit's subject and pull request, read with git from the repo at `dir`; empty outside git.
 * Asynchronous: it runs on every reload of a serving gateway, whose event loop must not wait on git.
 */
export async function commitInfo(dir: string, commit: string | null): Promise<CommitInfo> {
  if (!commit) return {};
  const git = async (...args: string[]) => (await run('git', args, { cwd: dir, encoding: 'utf8' })).stdout.trim();
  let subject: string;
  try {
    subject = await git('log', '-1', '--format=%s', commit);
  } catch {
    return {};
  }
  const m = /^Merge pull request #(\d+)\b/.exec(subject) ?? /\(#(\d+)\)\s*$/.exec(subject);
  if (!m) return { subject };
  const number = Number(m[1]);
  let url: string | undefined;
  try {
    const remote = await git('remote', 'get-url', 'origin');
    const gh = /github\.com[:/]([^/\s]+)\/([^/\s]+?)(?:\.git)?$/.exec(remote);
    if (gh) url = `https://github.com/${gh[1]}/${gh[2]}/pull/${number}`;
  } catch {
    // no remote: the number alone
  }
  return { subject, pullRequest: { number, ...(url ? { url } : {}) } };
}
