/** `portcullis ci github`: the PR comment and the check run, through one authenticated client. */
import { Octokit } from '@octokit/rest';
import { PortcullisError } from '../errors.ts';
import type { GithubContext } from './env.ts';
import { upsertComment } from './comment.ts';
import { publishCheckRun, type CheckReport } from './checks.ts';

export interface PublishResult {
  comment?: { id: number; created: boolean };
  checkRunId: number;
}

export function githubClient(ctx: GithubContext, fetchImpl?: typeof fetch): Octokit {
  return new Octokit({ auth: ctx.token, baseUrl: ctx.apiUrl, userAgent: 'portcullis-ci', ...(fetchImpl ? { request: { fetch: fetchImpl } } : {}) });
}

export async function publish(ctx: GithubContext, markdown: string, check: CheckReport, fetchImpl?: typeof fetch): Promise<PublishResult> {
  const octokit = githubClient(ctx, fetchImpl);
  try {
    const comment = await upsertComment(octokit, ctx, markdown);
    const checkRunId = await publishCheckRun(octokit, ctx, check);
    return { ...(comment ? { comment } : {}), checkRunId };
  } catch (err) {
    const status = (err as { status?: number }).status;
    throw new PortcullisError(status === 401 || status === 403 ? 'permission_denied' : 'unavailable', `GitHub API: ${(err as Error).message}`, {
      cause: err,
      details: { hint: status === 403 ? 'the workflow needs permissions: pull-requests: write and checks: write' : 'check GITHUB_API_URL and the token' },
    });
  }
}
