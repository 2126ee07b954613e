/**
 * `portcullis ci github` on pull requests that change the safety configuration, against a local
 * server speaking GitHub's REST shapes: the comment's safety section and permission diff, the
 * annotations of a removed mask, the owners' approval read from the reviews, and a token without
 * write access (a fork's pull request) that still leaves the report in the job summary.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { githubContext } from '../../runtime/github/env.ts';
import { githubClient } from '../../runtime/github/publish.ts';
import { policyCheck } from '../../runtime/github/check.ts';
import { ownerApproval } from '../../runtime/safety/approvals.ts';
import type { TempRepo } from '../simulate/helpers.ts';
import { dropInvariant, safetyRepo, unclassifyEmail } from '../safety/fixture.ts';

interface Seen {
  method: string;
  path: string;
  body?: { body?: string; conclusion?: string; output?: { annotations?: { path: string; title: string; annotation_level: string }[] } };
}

let server: Server;
let apiUrl: string;
let seen: Seen[] = [];
let reviews: { user: { login: string }; state: string; commit_id: string }[] = [];
let forbidden = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const path = req.url!;
      seen.push({ method: req.method!, path, ...(raw ? { body: JSON.parse(raw) } : {}) });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.method === 'GET' && path === '/repos/acme/policies/pulls/7/reviews?per_page=100') return send(200, reviews);
      if (req.method === 'GET' && path === '/orgs/acme/teams/policy-owners/members?per_page=100') return send(200, [{ login: 'olivia' }]);
      if (forbidden && req.method !== 'GET') return send(403, { message: 'Resource not accessible by integration' });
      if (req.method === 'GET' && path.startsWith('/repos/acme/policies/issues/7/comments')) return send(200, []);
      if (req.method === 'POST' && path === '/repos/acme/policies/issues/7/comments') return send(201, { id: 900 });
      if (req.method === 'POST' && path === '/repos/acme/policies/check-runs') return send(201, { id: 555 });
      if (req.method === 'PATCH' && path === '/repos/acme/policies/check-runs/555') return send(200, { id: 555 });
      send(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ repo, base } = await safetyRepo());
}, 60_000);

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  seen = [];
  reviews = [];
  forbidden = false;
});

let repo: TempRepo;
let base: string;
const cli = fileURLToPath(new URL('../../cli/portcullis.ts', import.meta.url));
// The CLI runs in the checkout root (annotation paths are relative to it), outside this project.
const tsxLoader = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

async function event(headSha: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-gh-'));
  await writeFile(join(dir, 'event.json'), JSON.stringify({ pull_request: { number: 7, head: { sha: headSha }, user: { login: 'mallory' } } }));
  return join(dir, 'event.json');
}

async function ciGithub(headSha: string, summary: string): Promise<{ code: number; stderr: string }> {
  const eventPath = await event(headSha);
  return new Promise((resolve) => {
    let stderr = '';
    const child = execFile(process.execPath, ['--import', tsxLoader, cli, 'ci', 'github', repo.dir, '--base', base, '--seed', '1'], {
      cwd: repo.root,
      env: { ...process.env, GITHUB_TOKEN: 'tok', GITHUB_REPOSITORY: 'acme/policies', GITHUB_EVENT_PATH: eventPath, GITHUB_API_URL: apiUrl, GITHUB_STEP_SUMMARY: summary },
    });
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (c) => resolve({ code: c ?? -1, stderr }));
  });
}

describe('ci github on a pull request that changes the safety configuration', () => {
  it('fails with a safety section naming the removed invariant and the drop to 0 recordings, and annotates the removed mask', async () => {
    repo.git('checkout', '-q', '-B', 'unsafe', base);
    await rm(join(repo.dir, 'recordings'), { recursive: true });
    await repo.edit('invariants/safety.yaml', dropInvariant('pii-always-masked'));
    await repo.edit('targets/shop-db.yaml', unclassifyEmail);
    const head = repo.commit('unsafe');
    const summary = join(await mkdtemp(join(tmpdir(), 'portcullis-sum-')), 'summary.md');
    const { code } = await ciGithub(head, summary);
    expect(code).toBe(1);
    const comment = seen.find((s) => s.method === 'POST' && s.path.endsWith('/comments'))!.body!.body!;
    expect(comment).toContain('### ❌ Safety configuration changed');
    expect(comment).toContain("invariant 'pii-always-masked' is removed");
    expect(comment).toMatch(/recordings in recordings: 5 → 0 recorded requests/);
    expect(comment).toMatch(/Not approved by a designated owner \(@acme\/policy-owners\)/);
    expect(comment).toMatch(/### ❌ Permission diff: \d+ widenings?/);
    expect(comment).toMatch(/support-agent .* \| select \| customers \| mask customers\.email \(partial\) removed/);
    const checkRuns = seen.filter((s) => s.path.startsWith('/repos/acme/policies/check-runs'));
    expect(checkRuns.at(-1)!.body!.conclusion).toBe('failure');
    const annotations = checkRuns.flatMap((s) => s.body!.output?.annotations ?? []);
    const onTarget = annotations.filter((a) => a.path === 'policies/targets/shop-db.yaml' && a.annotation_level === 'failure');
    expect(onTarget.map((a) => a.title)).toEqual(
      expect.arrayContaining([expect.stringMatching(/recorded requests maskRemoved/), expect.stringMatching(/permission widened: select customers on shop-db/)]),
    );
    expect(annotations).toContainEqual(expect.objectContaining({ path: 'policies/invariants/safety.yaml', title: 'safety configuration changed: invariant-removed' }));
    // The base's pii invariant is still checked, against the classification the base had.
    expect(comment).toMatch(/`pii-always-masked` \(base; removed or changed here\) \| ❌/);
    expect(await readFile(summary, 'utf8')).toContain('Safety configuration changed');
  }, 240_000);

  it('on a 403 (a read-only token) still writes the job summary, and says why publishing failed', async () => {
    repo.git('checkout', '-q', '-B', 'fork', base);
    await repo.edit('policies/support.yaml', (t) => t.replace('resources: [orders, customers, customer_contacts, products]', 'resources: [orders, products]'));
    const head = repo.commit('tighten');
    forbidden = true;
    const summary = join(await mkdtemp(join(tmpdir(), 'portcullis-sum-')), 'summary.md');
    const { code, stderr } = await ciGithub(head, summary);
    expect(code).toBe(1);
    expect(stderr).toMatch(/GitHub API: Resource not accessible by integration/);
    expect(stderr).toMatch(/pull-requests: write and checks: write/);
    const text = await readFile(summary, 'utf8');
    expect(text).toContain('## Portcullis policy check');
    expect(text).toMatch(/Permission diff: 0 widenings, \d+ narrowings?/);
  }, 240_000);
});

describe("the designated owners' approval", () => {
  async function check(headSha: string) {
    const ctx = githubContext({ GITHUB_TOKEN: 'tok', GITHUB_REPOSITORY: 'acme/policies', GITHUB_EVENT_PATH: await event(headSha), GITHUB_API_URL: apiUrl });
    const octokit = githubClient(ctx);
    return policyCheck({ dir: repo.dir, base, seed: 1, runs: 50, approval: (owners) => ownerApproval(octokit, ctx, owners) });
  }

  it('of the current head commit, by a member of the owner team, passes the safety section', async () => {
    repo.git('checkout', '-q', '-B', 'raise-limit', base);
    await repo.edit('portcullis.yaml', (t) => t.replace('maxGrantTtl: 4h', 'maxGrantTtl: 8h'));
    const head = repo.commit('raise the grant limit');
    reviews = [
      { user: { login: 'bob' }, state: 'APPROVED', commit_id: head },
      { user: { login: 'olivia' }, state: 'APPROVED', commit_id: head },
    ];
    const c = await check(head);
    expect(c.safety!.changes.map((x) => x.kind)).toEqual(['setting-changed']);
    expect(c.safety!.approval).toMatchObject({ owners: ['@acme/policy-owners'], approvedBy: ['olivia'] });
    expect(c.safety!.failed).toBe(false);
  }, 120_000);

  it('of an earlier commit, or by someone who is not an owner, or by the author, does not', async () => {
    repo.git('checkout', '-q', '-B', 'raise-limit-2', base);
    await repo.edit('portcullis.yaml', (t) => t.replace('maxGrantTtl: 4h', 'maxGrantTtl: 8h'));
    const first = repo.commit('raise the grant limit');
    await repo.edit('portcullis.yaml', (t) => t.replace('maxGrantTtl: 8h', 'maxGrantTtl: 30d'));
    const head = repo.commit('and a bit more');
    reviews = [
      { user: { login: 'olivia' }, state: 'APPROVED', commit_id: first },
      { user: { login: 'bob' }, state: 'APPROVED', commit_id: head },
      { user: { login: 'mallory' }, state: 'APPROVED', commit_id: head },
    ];
    const c = await check(head);
    expect(c.safety!.approval!.approvedBy).toEqual([]);
    expect(c.safety!.approval!.problem).toMatch(/@bob, who is not a designated owner/);
    expect(c.safety!.failed).toBe(true);
    // A later "changes requested" by the owner withdraws her approval.
    reviews = [
      { user: { login: 'olivia' }, state: 'APPROVED', commit_id: head },
      { user: { login: 'olivia' }, state: 'CHANGES_REQUESTED', commit_id: head },
    ];
    expect((await check(head)).safety!.failed).toBe(true);
  }, 120_000);
});
