/**
 * A local server answering the two REST endpoints the report uses, with the shapes GitHub returns
 * (trimmed to the fields read). Every request is kept so tests can assert exactly what was asked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { COMMIT_A, COMMIT_B } from './fixture.ts';

export interface Seen {
  method: string;
  path: string;
  auth?: string;
}

export interface GithubServer {
  url: string;
  seen: Seen[];
  /** answer 500 to everything while set */
  failing: boolean;
  close(): Promise<void>;
}

const pr = (number: number, sha: string, title: string, author: string) => ({
  number,
  title,
  html_url: `https://github.com/acme/policies/pull/${number}`,
  state: 'closed',
  user: { login: author },
  merged_at: '2030-01-01T09:00:00Z',
  merge_commit_sha: sha,
  base: { ref: 'main' },
});

const routes: Record<string, unknown> = {
  // A commit may sit on several PRs; the one that merged it is the one that introduced it.
  [`/repos/acme/policies/commits/${COMMIT_A}/pulls?per_page=100`]: [pr(11, 'c3c3c3c3', 'WIP: experiments', 'mallory'), pr(12, COMMIT_A, 'Data agent deletes need a DBA', 'dana')],
  [`/repos/acme/policies/commits/${COMMIT_B}/pulls?per_page=100`]: [pr(15, COMMIT_B, 'Support no longer reads customer_contacts', 'dana')],
  '/repos/acme/policies/pulls/12/reviews?per_page=100': [
    { user: { login: 'erin' }, state: 'COMMENTED', submitted_at: '2030-01-01T08:00:00Z' },
    { user: { login: 'frank' }, state: 'CHANGES_REQUESTED', submitted_at: '2030-01-01T08:10:00Z' },
    { user: { login: 'erin' }, state: 'APPROVED', submitted_at: '2030-01-01T08:20:00Z' },
    { user: { login: 'frank' }, state: 'APPROVED', submitted_at: '2030-01-01T08:30:00Z' },
    { user: { login: 'frank' }, state: 'COMMENTED', submitted_at: '2030-01-01T08:40:00Z' },
    { user: { login: 'gina' }, state: 'PENDING' },
  ],
  // hal's "changes requested" still stands when #15 is merged: the report flags it.
  '/repos/acme/policies/pulls/15/reviews?per_page=100': [
    { user: { login: 'erin' }, state: 'APPROVED', submitted_at: '2030-01-02T08:00:00Z' },
    { user: { login: 'hal' }, state: 'CHANGES_REQUESTED', submitted_at: '2030-01-02T08:05:00Z' },
  ],
};

export async function startGithubServer(): Promise<GithubServer> {
  const state = { seen: [] as Seen[], failing: false };
  const server: Server = createServer((req, res) => {
    state.seen.push({ method: req.method!, path: req.url!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (state.failing) return send(500, { message: 'Server Error' });
    const body = req.method === 'GET' ? routes[req.url!] : undefined;
    if (body === undefined) return send(404, { message: 'Not Found' });
    send(200, body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get seen() {
      return state.seen;
    },
    set seen(v) {
      state.seen = v;
    },
    get failing() {
      return state.failing;
    },
    set failing(v) {
      state.failing = v;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
