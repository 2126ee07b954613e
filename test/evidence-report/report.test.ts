/**
 * buildEvidenceReport over a real log (two commits live one after the other, then a restart):
 * attribution of decisions, results, approvals and grants to commits; live windows; filters; and
 * the PR lookup against a local GitHub, with the cache preventing repeat calls.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { buildEvidenceReport, type CommitReport } from '../../runtime/evidence-report/index.ts';
import { revisionKey } from '../../runtime/evidence-report/revision-key.ts';
import { reviewersOf } from '../../runtime/evidence-report/github.ts';
import { buildFixture, COMMIT_A, COMMIT_B, type EvidenceFixture } from './fixture.ts';
import { startGithubServer, type GithubServer } from './github-server.ts';

let f: EvidenceFixture;
let gh: GithubServer;
const env = () => ({ GITHUB_TOKEN: 'tok', GITHUB_REPOSITORY: 'acme/policies', GITHUB_API_URL: gh.url });
const cacheFile = () => join(f.dataDir, 'github-cache.json');

beforeAll(async () => {
  [f, gh] = await Promise.all([buildFixture(), startGithubServer()]);
});
afterAll(async () => {
  await Promise.all([f?.close(), gh?.close()]);
});
beforeEach(async () => {
  gh.seen = [];
  gh.failing = false;
  await rm(cacheFile(), { force: true });
});

const byKey = (commits: CommitReport[], key: string) => commits.find((c) => c.key === key)!;

describe('evidence report per commit', () => {
  it('attributes decisions, denials, masked values, approvals, grants and sessions to the commit stamped on them', async () => {
    const report = await buildEvidenceReport({ dataDir: f.dataDir });
    expect(report.commits.map((c) => c.key)).toEqual([COMMIT_A, COMMIT_B]);
    const a = byKey(report.commits, COMMIT_A);
    const b = byKey(report.commits, COMMIT_B);

    expect(a.digests).toEqual([f.a.revision.digest]);
    expect(b.digests).toEqual([f.b.revision.digest]);
    expect(a.decisions).toEqual({ total: 6, byEffect: { allow: 3, review: 1, deny: 2 }, byTarget: [{ target: 'shop-db', total: 6, allow: 3, review: 1, deny: 2 }] });
    expect(b.decisions.byEffect).toEqual({ allow: 2, review: 2, deny: 4 });
    expect(b.decisions.byTarget.map((t) => [t.target, t.total, t.allow, t.review, t.deny])).toEqual([
      ['billing-api', 3, 1, 1, 1],
      ['shop-db', 3, 1, 0, 2],
      ['k8s-prod', 2, 0, 1, 1],
    ]);

    expect(a.topDenyingRules).toEqual([
      { rule: 'agents-baseline/no-ddl', file: 'policies/baseline.yaml', line: expect.any(Number), count: 1 },
      { rule: 'support-read/no-writes', file: 'policies/support.yaml', line: expect.any(Number), count: 1 },
    ]);
    expect(b.topDenyingRules.map((r) => [r.rule, r.count])).toEqual([
      ['(default deny)', 1],
      ['billing-support/no-deletes', 1],
      ['platform-read/no-deletes', 1],
      ['support-read/no-writes', 1],
    ]);
    // The tightened commit B is what denied customer_contacts; under A the same statement was allowed.
    expect(b.denials.shown.map((d) => d.request)).toEqual([
      'select email from customer_contacts where customer_id = 7',
      'DELETE /invoices/7',
      'delete pods web-1 -n shop',
      'update orders set status = 1 where id = 2',
    ]);
    expect(b.denials.shown[0]).toMatchObject({ identity: 'support-agent', target: 'shop-db', rules: [], reason: expect.stringContaining('no rule allows') });
    expect(a.denials).toMatchObject({ total: 2, truncated: false });

    // 3 + 1 + 0 + 4 under A; 2 + 5 under B (joined to their decision by sessionId + seq)
    expect(a.masking).toEqual({ maskedValues: 8, results: 4, resultsWithMasking: 3 });
    expect(b.masking).toEqual({ maskedValues: 7, results: 2, resultsWithMasking: 2 });

    expect(a.approvals).toMatchObject({ requested: 1, approved: 1, denied: 0, expired: 0, pending: 0 });
    expect(a.approvals.list).toEqual([
      expect.objectContaining({
        id: f.approvalIds.granted,
        requester: 'data-agent',
        status: 'approved',
        approvers: ['alice'],
        rule: 'data-maintenance/deletes-need-dba',
        summary: 'delete from orders where id = 5',
      }),
    ]);
    expect(a.grants).toMatchObject({ opened: 1, expired: 1 });
    expect(a.grants.list[0]).toMatchObject({ approvalId: f.approvalIds.granted, identity: 'data-agent', scope: 'rule', endReason: 'expired' });
    expect(b.approvals).toMatchObject({ requested: 2, approved: 0, denied: 1, expired: 1, pending: 0 });
    expect(b.approvals.list.find((x) => x.id === f.approvalIds.denied)).toMatchObject({ status: 'denied', approvers: ['bob'], denialReason: 'use the vault', target: 'k8s-prod' });
    expect(b.approvals.list.find((x) => x.id === f.approvalIds.expired)).toMatchObject({ status: 'expired', target: 'billing-api', summary: 'POST /refunds' });
    expect(b.grants).toMatchObject({ opened: 0, expired: 0, list: [] });

    expect(a.sessions).toEqual({ count: 2, identities: ['data-agent', 'support-agent'] });
    expect(b.sessions).toEqual({ count: 4, identities: ['ops-agent', 'support-agent'] });

    expect(report.totals).toEqual({
      commits: 2,
      decisions: 14,
      byEffect: { allow: 5, review: 3, deny: 6 },
      denials: 6,
      maskedValues: 15,
      sessions: 6,
      approvalsRequested: 3,
      bundlesRejected: 0,
    });
    expect(report.unattributed).toEqual({ approvalEvents: 0, grantEvents: 0, results: 0 });
  });

  it('says when each commit was live: reload ends a window, a restart ends it at the last record before', async () => {
    const report = await buildEvidenceReport({ dataDir: f.dataDir });
    const a = byKey(report.commits, COMMIT_A);
    const b = byKey(report.commits, COMMIT_B);
    expect(a.live.windows).toEqual([{ from: report.source.firstTs, to: f.bLoadedAt, endedBy: 'reload', loadedSeq: 1 }]);
    expect(b.live.windows).toEqual([
      { from: f.bLoadedAt, to: f.beforeRestart, endedBy: 'restart', loadedSeq: expect.any(Number) },
      { from: f.restartAt, loadedSeq: expect.any(Number) },
    ]);
    expect(a.live.firstDecision! < a.live.lastDecision!).toBe(true);
    expect(a.live.lastDecision! < f.bLoadedAt).toBe(true);
    expect(b.live.firstDecision! > f.bLoadedAt).toBe(true);
  });

  it('without GitHub configured, PR information is absent and the report says so', async () => {
    const report = await buildEvidenceReport({ dataDir: f.dataDir });
    expect(report.github).toEqual({ configured: false, apiCalls: 0, note: expect.stringMatching(/GitHub is not configured.*GITHUB_TOKEN and GITHUB_REPOSITORY/) });
    expect(report.commits.every((c) => c.pullRequest === undefined)).toBe(true);
    const partial = await buildEvidenceReport({ dataDir: f.dataDir, github: { env: { GITHUB_REPOSITORY: 'acme/policies' } } });
    expect(partial.github).toMatchObject({ configured: false, note: expect.stringContaining('GITHUB_TOKEN is not set') });
    expect(gh.seen).toEqual([]);
    expect(existsSync(cacheFile())).toBe(false);
  });

  it('finds the PR that merged each commit and its reviewers with exactly four requests, then answers from the cache', async () => {
    const first = await buildEvidenceReport({ dataDir: f.dataDir, github: { env: env() } });
    expect(gh.seen).toEqual([
      { method: 'GET', path: `/repos/acme/policies/commits/${COMMIT_A}/pulls?per_page=100`, auth: 'token tok' },
      { method: 'GET', path: '/repos/acme/policies/pulls/12/reviews?per_page=100', auth: 'token tok' },
      { method: 'GET', path: `/repos/acme/policies/commits/${COMMIT_B}/pulls?per_page=100`, auth: 'token tok' },
      { method: 'GET', path: '/repos/acme/policies/pulls/15/reviews?per_page=100', auth: 'token tok' },
    ]);
    expect(first.github).toEqual({ configured: true, repository: 'acme/policies', apiCalls: 4, cacheFile: cacheFile(), note: 'pull requests from acme/policies' });
    const a = byKey(first.commits, COMMIT_A);
    expect(a.pullRequest).toEqual({
      status: 'found',
      cached: false,
      pullRequest: {
        number: 12,
        title: 'Data agent deletes need a DBA',
        url: 'https://github.com/acme/policies/pull/12',
        author: 'dana',
        state: 'merged',
        mergedAt: '2030-01-01T09:00:00Z',
        mergeCommit: COMMIT_A,
        baseRef: 'main',
        // a later comment does not undo an approval; a pending review was never submitted
        reviewers: [
          { login: 'erin', state: 'APPROVED', submittedAt: '2030-01-01T08:20:00Z' },
          { login: 'frank', state: 'APPROVED', submittedAt: '2030-01-01T08:30:00Z' },
        ],
      },
    });
    expect(byKey(first.commits, COMMIT_B).pullRequest).toMatchObject({
      status: 'found',
      pullRequest: {
        number: 15,
        reviewers: [
          { login: 'erin', state: 'APPROVED' },
          { login: 'hal', state: 'CHANGES_REQUESTED' },
        ],
      },
    });

    const cache = JSON.parse(await readFile(cacheFile(), 'utf8'));
    expect(Object.keys(cache.entries).sort()).toEqual([`acme/policies@${COMMIT_A}`, `acme/policies@${COMMIT_B}`]);

    gh.seen = [];
    const second = await buildEvidenceReport({ dataDir: f.dataDir, github: { env: env() } });
    expect(gh.seen).toEqual([]);
    expect(second.github.apiCalls).toBe(0);
    expect(byKey(second.commits, COMMIT_A).pullRequest).toEqual({ ...a.pullRequest!, cached: true });
  });

  it('asks only about commits not yet cached, and an unreachable GitHub leaves the report whole and the cache unpoisoned', async () => {
    await buildEvidenceReport({ dataDir: f.dataDir, commit: COMMIT_A, github: { env: env() } });
    expect(gh.seen.map((s) => s.path)).toEqual([`/repos/acme/policies/commits/${COMMIT_A}/pulls?per_page=100`, '/repos/acme/policies/pulls/12/reviews?per_page=100']);
    gh.seen = [];
    gh.failing = true;
    const report = await buildEvidenceReport({ dataDir: f.dataDir, github: { env: env() } });
    // A was cached; B was asked once, failed, and is not cached as "no PR".
    expect(gh.seen.map((s) => s.path)).toEqual([`/repos/acme/policies/commits/${COMMIT_B}/pulls?per_page=100`]);
    expect(byKey(report.commits, COMMIT_A).pullRequest).toMatchObject({ status: 'found', cached: true });
    expect(byKey(report.commits, COMMIT_B).pullRequest).toEqual({ status: 'unavailable', note: expect.stringContaining('GitHub could not be reached') });
    expect(report.github.note).toMatch(/^pull request information is incomplete/);
    expect(report.totals.decisions).toBe(14);
    const cache = JSON.parse(await readFile(cacheFile(), 'utf8'));
    expect(Object.keys(cache.entries)).toEqual([`acme/policies@${COMMIT_A}`]);
  });

  it('--commit takes a prefix and reports that commit alone; unknown and ambiguous prefixes are errors', async () => {
    const report = await buildEvidenceReport({ dataDir: f.dataDir, commit: COMMIT_B.slice(0, 7) });
    expect(report.commits.map((c) => c.key)).toEqual([COMMIT_B]);
    expect(report.totals).toMatchObject({ commits: 1, decisions: 8, maskedValues: 7 });
    expect(report.filter).toEqual({ commit: COMMIT_B.slice(0, 7) });
    const err = await buildEvidenceReport({ dataDir: f.dataDir, commit: 'deadbeef' }).catch((e: unknown) => e);
    expect(PortcullisError.is(err, 'not_found')).toBe(true);
    expect((err as PortcullisError).details.hint).toContain(COMMIT_A.slice(0, 12));
  });

  it('--since counts only later evidence but still shows the window that reached past it', async () => {
    const report = await buildEvidenceReport({ dataDir: f.dataDir, since: new Date(f.bLoadedAt) });
    expect(report.commits.map((c) => c.key)).toEqual([COMMIT_A, COMMIT_B]);
    const a = byKey(report.commits, COMMIT_A);
    // A's window ended exactly when B loaded: it reaches the since instant, with no decisions after it
    expect(a.decisions.total).toBe(0);
    expect(a.grants.expired).toBe(1); // its grant lapsed during B's window
    expect(byKey(report.commits, COMMIT_B).decisions.total).toBe(8);
    const later = await buildEvidenceReport({ dataDir: f.dataDir, since: new Date(f.restartAt) });
    expect(later.commits.map((c) => c.key)).toEqual([COMMIT_B]);
    expect(later.totals.decisions).toBe(1);
  });

  it('a missing log is not_found with a hint', async () => {
    const err = await buildEvidenceReport({ dataDir: join(f.dataDir, 'nowhere') }).catch((e: unknown) => e);
    expect(PortcullisError.is(err, 'not_found')).toBe(true);
    expect((err as PortcullisError).details.hint).toContain('--data-dir');
  });
});

describe('revision keys and reviewers', () => {
  it('keys a dirty work tree and a non-git folder by digest, never as the clean commit', () => {
    expect(revisionKey({ commit: 'abc', dirty: false, digest: 'f'.repeat(64) })?.key).toBe('abc');
    expect(revisionKey({ commit: 'abc', dirty: true, digest: '0123456789abcdef' })?.key).toBe('abc+dirty:0123456789ab');
    expect(revisionKey({ commit: null, dirty: false, digest: '0123456789abcdef' })?.key).toBe('uncommitted:0123456789ab');
    expect(revisionKey(undefined)).toBeUndefined();
  });

  it('a dismissal replaces an approval; a comment does not', () => {
    expect(
      reviewersOf([
        { user: { login: 'x' }, state: 'APPROVED' },
        { user: { login: 'x' }, state: 'DISMISSED' },
        { user: { login: 'y' }, state: 'COMMENTED' },
        { user: null, state: 'APPROVED' },
      ]),
    ).toEqual([
      { login: 'x', state: 'DISMISSED' },
      { login: 'y', state: 'COMMENTED' },
    ]);
  });
});
