/**
 * What Actions gives a job: the token, `owner/repo`, the API URL (GitHub Enterprise differs) and the
 * event payload, from which a pull request's number and head commit come.
 */
import { readFileSync } from 'node:fs';
import { PortcullisError } from '../errors.ts';

export interface GithubContext {
  token: string;
  owner: string;
  repo: string;
  apiUrl: string;
  /** set for pull_request events */
  pullNumber?: number;
  /** the commit the check run is attached to */
  headSha: string;
  /** the pull request's author (who cannot approve their own change) */
  author?: string;
}

export function githubContext(env: NodeJS.ProcessEnv = process.env): GithubContext {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new PortcullisError('failed_precondition', `${name} is not set`, { details: { hint: 'run inside GitHub Actions, or set GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_EVENT_PATH' } });
    return v;
  };
  const token = need('GITHUB_TOKEN');
  const [owner, repo] = need('GITHUB_REPOSITORY').split('/');
  if (!owner || !repo) throw new PortcullisError('invalid_argument', `GITHUB_REPOSITORY must be owner/repo, not '${env.GITHUB_REPOSITORY}'`);
  let event: { pull_request?: { number?: number; head?: { sha?: string }; user?: { login?: string } } } = {};
  try {
    event = JSON.parse(readFileSync(need('GITHUB_EVENT_PATH'), 'utf8'));
  } catch (err) {
    throw PortcullisError.from(err, 'failed_precondition', `cannot read the event payload at ${env.GITHUB_EVENT_PATH}`);
  }
  const pr = event.pull_request;
  const headSha = pr?.head?.sha ?? env.GITHUB_SHA;
  if (!headSha) throw new PortcullisError('failed_precondition', 'no commit to report on: the event has no pull_request.head.sha and GITHUB_SHA is not set');
  return {
    token,
    owner,
    repo,
    apiUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/$/, ''),
    ...(typeof pr?.number === 'number' ? { pullNumber: pr.number } : {}),
    headSha,
    ...(pr?.user?.login ? { author: pr.user.login } : {}),
  };
}
