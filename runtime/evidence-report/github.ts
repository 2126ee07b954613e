/**
 * Commit → pull request → reviewers, the last link of "which rule, which commit, which PR, who
 * approved it". Two REST calls per commit not yet cached: the PRs associated with the commit, and
 * the reviews of the one that merged it.
 */
import { Octokit } from '@octokit/rest';
import { PortcullisError } from '../errors.ts';
import type { GithubCache } from './github-cache.ts';
import type { PullRequestInfo, PullRequestLookup, Reviewer } from './types.ts';

export interface GithubOptions {
  /** an authenticated client; `repository` (or GITHUB_REPOSITORY in `env`) says which repo */
  octokit?: Octokit;
  repository?: string;
  /** GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL; default process.env when no octokit is given */
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export interface GithubClient {
  octokit: Octokit;
  owner: string;
  repo: string;
  repository: string;
}

/** The client, or why there is none (PR information is then absent, and the report says so). */
export function githubClient(opts: GithubOptions | undefined): GithubClient | { note: string } {
  if (!opts) return { note: 'GitHub is not configured: pull requests and reviewers are not shown (set GITHUB_TOKEN and GITHUB_REPOSITORY)' };
  const env = opts.env ?? (opts.octokit ? {} : process.env);
  const repository = opts.repository ?? env.GITHUB_REPOSITORY;
  if (!repository) return { note: 'GitHub is not configured: GITHUB_REPOSITORY is not set, so pull requests and reviewers are not shown' };
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length > 0) {
    throw new PortcullisError('invalid_argument', `GITHUB_REPOSITORY must be owner/repo, not '${repository}'`);
  }
  if (opts.octokit) return { octokit: opts.octokit, owner, repo, repository };
  const token = env.GITHUB_TOKEN;
  if (!token) return { note: 'GitHub is not configured: GITHUB_TOKEN is not set, so pull requests and reviewers are not shown' };
  const octokit = new Octokit({
    auth: token,
    baseUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/$/, ''),
    userAgent: 'portcullis-evidence-report',
    // Failures become one note in the report; Octokit's own console lines would interleave with it.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    ...(opts.fetch ? { request: { fetch: opts.fetch } } : {}),
  });
  return { octokit, owner, repo, repository };
}

export interface LookupOutcome {
  lookups: Map<string, PullRequestLookup>;
  apiCalls: number;
  /** set when GitHub failed; later commits were not asked */
  failure?: string;
}

export async function lookupPullRequests(client: GithubClient, cache: GithubCache, shas: readonly string[], now: () => Date = () => new Date()): Promise<LookupOutcome> {
  const lookups = new Map<string, PullRequestLookup>();
  let apiCalls = 0;
  let failure: string | undefined;
  for (const sha of shas) {
    const cached = cache.get(client.repository, sha);
    if (cached) {
      lookups.set(sha, cached.pullRequest ? { status: 'found', pullRequest: cached.pullRequest, cached: true } : { status: 'none', cached: true, note: noPr });
      continue;
    }
    if (failure) {
      lookups.set(sha, { status: 'unavailable', note: failure });
      continue;
    }
    try {
      const counter = { calls: 0 };
      const pullRequest = await fetchPullRequest(client, sha, counter).finally(() => (apiCalls += counter.calls));
      cache.set(client.repository, sha, { fetchedAt: now().toISOString(), pullRequest });
      lookups.set(sha, pullRequest ? { status: 'found', pullRequest, cached: false } : { status: 'none', cached: false, note: noPr });
    } catch (err) {
      const status = (err as { status?: number }).status;
      // GitHub not knowing one commit (unpushed, another repo's) says nothing about the others.
      if (status === 404 || status === 422) {
        lookups.set(sha, { status: 'unavailable', note: `GitHub does not know commit ${sha.slice(0, 12)} in ${client.repository} (${status})` });
        continue;
      }
      failure = describeFailure(err);
      lookups.set(sha, { status: 'unavailable', note: failure });
    }
  }
  return { lookups, apiCalls, ...(failure ? { failure } : {}) };
}

const noPr = 'no pull request is associated with this commit (pushed directly?)';

async function fetchPullRequest(client: GithubClient, sha: string, counter: { calls: number }): Promise<PullRequestInfo | null> {
  const { octokit, owner, repo } = client;
  counter.calls++;
  const { data: prs } = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: sha, per_page: 100 });
  // The PR that introduced the commit is the one that merged it; a commit can also sit on open PRs.
  const pr = prs.find((p) => p.merge_commit_sha === sha) ?? prs.find((p) => p.merged_at) ?? prs[0];
  if (!pr) return null;
  counter.calls++;
  const { data: reviews } = await octokit.rest.pulls.listReviews({ owner, repo, pull_number: pr.number, per_page: 100 });
  return {
    number: pr.number,
    title: pr.title,
    url: pr.html_url,
    ...(pr.user?.login ? { author: pr.user.login } : {}),
    state: pr.merged_at ? 'merged' : pr.state,
    ...(pr.merged_at ? { mergedAt: pr.merged_at } : {}),
    ...(pr.merge_commit_sha ? { mergeCommit: pr.merge_commit_sha } : {}),
    ...(pr.base?.ref ? { baseRef: pr.base.ref } : {}),
    reviewers: reviewersOf(reviews),
  };
}

/**
 * Each reviewer's standing verdict, as GitHub shows it: a later comment does not undo an approval
 * or a change request, a dismissal does. Reviews still pending were never submitted.
 */
export function reviewersOf(reviews: readonly { user?: { login?: string } | null; state?: string; submitted_at?: string | null }[]): Reviewer[] {
  const byLogin = new Map<string, Reviewer>();
  for (const r of reviews) {
    const login = r.user?.login;
    const state = r.state ?? '';
    if (!login || state === 'PENDING') continue;
    const prior = byLogin.get(login);
    if (prior && state === 'COMMENTED' && prior.state !== 'COMMENTED') continue;
    byLogin.set(login, { login, state, ...(r.submitted_at ? { submittedAt: r.submitted_at } : {}) });
  }
  return [...byLogin.values()];
}

function describeFailure(err: unknown): string {
  const status = (err as { status?: number }).status;
  const message = err instanceof Error ? err.message : String(err);
  if (status === 401 || status === 403) return `GitHub refused the lookup (${status}: ${message}); the token needs contents: read and pull-requests: read`;
  return `GitHub could not be reached (${message}); check GITHUB_API_URL`;
}
