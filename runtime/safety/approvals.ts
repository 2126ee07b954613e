/**
 * Did a designated owner approve this pull request? Owners come from the base revision's
 * CODEOWNERS (the pull request cannot name its own approvers); approvals from the pull request's
 * reviews, each reviewer's latest verdict, and only one given to the current head commit - an
 * approval of an earlier push does not cover what was pushed after it.
 */
import type { Octokit } from '@octokit/rest';
import type { GithubContext } from '../github/env.ts';
import type { OwnerApproval } from './types.ts';

export async function ownerApproval(octokit: Octokit, ctx: GithubContext, owners: readonly string[]): Promise<OwnerApproval> {
  const result: OwnerApproval = { owners: [...owners], approvedBy: [] };
  if (ctx.pullNumber === undefined) return { ...result, problem: 'not a pull request' };
  if (owners.length === 0) return { ...result, problem: "the base revision's CODEOWNERS names no owner of the repo config (run: portcullis codeowners --owner @org/team)" };
  const reviews = await octokit.paginate(octokit.rest.pulls.listReviews, { owner: ctx.owner, repo: ctx.repo, pull_number: ctx.pullNumber, per_page: 100 });
  // A reviewer's latest approve, request-changes or dismissal counts; comments do not change a verdict.
  const latest = new Map<string, { state: string; commit?: string | null }>();
  for (const r of reviews) {
    const login = r.user?.login?.toLowerCase();
    if (!login || r.state === 'COMMENTED' || r.state === 'PENDING') continue;
    latest.set(login, { state: r.state, commit: r.commit_id });
  }
  const approvers = [...latest].filter(([login, v]) => v.state === 'APPROVED' && v.commit === ctx.headSha && login !== ctx.author?.toLowerCase()).map(([login]) => login);
  if (approvers.length === 0) return { ...result, problem: latest.size ? 'no approval of the current head commit by an owner' : 'no approving review yet' };
  const users = new Set(owners.filter((o) => /^@[^/]+$/.test(o)).map((o) => o.slice(1).toLowerCase()));
  const problems: string[] = [];
  for (const team of owners.filter((o) => /^@[^/]+\/.+$/.test(o))) {
    const [org, slug] = team.slice(1).split('/') as [string, string];
    try {
      const members = await octokit.paginate(octokit.rest.teams.listMembersInOrg, { org, team_slug: slug, per_page: 100 });
      for (const m of members) if (m?.login) users.add(m.login.toLowerCase());
    } catch (err) {
      problems.push(`cannot read the members of ${team} (HTTP ${(err as { status?: number }).status ?? '?'}; the token needs read access to the organisation's teams)`);
    }
  }
  result.approvedBy = approvers.filter((a) => users.has(a)).sort();
  if (result.approvedBy.length === 0)
    result.problem = [`approved by ${approvers.map((a) => `@${a}`).join(', ')}, who ${approvers.length === 1 ? 'is' : 'are'} not a designated owner`, ...problems].join('; ');
  return result;
}
