/**
 * One comment per pull request, edited in place on every run: a hidden marker identifies ours, so
 * a PR with ten pushes has one up-to-date report instead of ten stale ones.
 */
import type { Octokit } from '@octokit/rest';
import type { GithubContext } from './env.ts';

export const MARKER = '<!-- portcullis:policy-ci -->';

export async function upsertComment(octokit: Octokit, ctx: GithubContext, markdown: string): Promise<{ id: number; created: boolean } | undefined> {
  if (ctx.pullNumber === undefined) return undefined;
  const body = `${MARKER}\n${markdown}`;
  const comments = await octokit.paginate(octokit.rest.issues.listComments, { owner: ctx.owner, repo: ctx.repo, issue_number: ctx.pullNumber, per_page: 100 });
  const ours = comments.find((c) => c.body?.includes(MARKER));
  if (ours) {
    await octokit.rest.issues.updateComment({ owner: ctx.owner, repo: ctx.repo, comment_id: ours.id, body });
    return { id: ours.id, created: false };
  }
  const { data } = await octokit.rest.issues.createComment({ owner: ctx.owner, repo: ctx.repo, issue_number: ctx.pullNumber, body });
  return { id: data.id, created: true };
}
