/**
 * The access review of one policy commit: every rule of the bundle at that commit, as who
 * (subjects) × where (targets) × what (actions on resources) with its effect and masks. The bundle
 * is read from the policy repo's git history (`git archive COMMIT`), so the review shows what the
 * commit said, not what the work tree says today.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadBundle } from '../bundle/load.ts';
import type { Bundle } from '../bundle/model.ts';
import type { AccessEntry, AccessReview } from './types.ts';

const run = promisify(execFile);

export function accessEntries(bundle: Bundle): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const { doc } of bundle.policies) {
    const subjects = doc.spec.subjects.map((s) => (s.identity ? s.identity : `group:${s.group}`));
    const selector = doc.spec.targets;
    const named = Array.isArray(selector)
      ? [...selector]
      : [...bundle.targets.values()].filter((t) => Object.entries(selector.labels).every(([k, v]) => t.doc.metadata.labels?.[k] === v)).map((t) => t.doc.metadata.name);
    const targets = Array.isArray(selector)
      ? named
      : [
          `labels ${Object.entries(selector.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')}: ${named.join(', ') || 'none'}`,
        ];
    // What is masked whatever the rule says: the classifications of the targets it applies to.
    const classified = named.flatMap((name) =>
      (bundle.targets.get(name)?.doc.spec.classification ?? []).map(
        (c) =>
          `${name} ${c.name} (${[...(c.columns ?? []), ...(c.fields ?? []), ...(c.secretData ? ['secret data'] : []), ...(c.content ?? []).map((x) => `content:${x}`)].join(', ')}): ${c.strategy}`,
      ),
    );
    for (const rule of doc.spec.rules) {
      const own = (rule.mask ?? []).map(
        (m) =>
          `${[...(m.columns ?? []), ...(m.fields ?? []), ...(m.classifications ?? []).map((c) => `classification:${c}`), ...(m.content ?? []).map((c) => `content:${c}`)].join(', ')}: ${m.strategy}`,
      );
      const masks = rule.effect === 'deny' ? [] : [...own, ...classified];
      out.push({
        rule: `${doc.metadata.name}/${rule.id}`,
        effect: rule.effect,
        subjects,
        targets,
        actions: [...rule.actions],
        resources: [...(rule.resources ?? ['*']), ...(rule.namespaces ? rule.namespaces.map((n) => `namespace:${n}`) : [])],
        masks,
        ...(rule.review ? { approvers: `${rule.review.approvers.count ?? 1} of ${rule.review.approvers.groups.join(', ')}${rule.review.grant ? `; grant ${rule.review.grant.ttl}` : ''}` } : {}),
      });
    }
  }
  return out;
}

/** The review of `commit` from the git repository holding `policies`; never throws (it says why instead). */
export async function accessReviewAt(policies: string, commit: string): Promise<AccessReview> {
  let dir: string | undefined;
  try {
    const top = (await run('git', ['-C', policies, 'rev-parse', '--show-toplevel'])).stdout.trim();
    const prefix = (await run('git', ['-C', policies, 'rev-parse', '--show-prefix'])).stdout.trim();
    dir = await mkdtemp(join(tmpdir(), 'pc-access-'));
    await run('sh', ['-c', 'git -C "$1" archive --format=tar "$2" | tar -x -C "$3"', 'sh', top, commit, dir]);
    const bundle = await loadBundle(prefix ? join(dir, prefix) : dir);
    return { source: `${policies} at ${commit.slice(0, 12)}`, entries: accessEntries(bundle) };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { source: `the bundle at ${commit.slice(0, 12)} could not be read from ${policies}: ${message}`, entries: [] };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
