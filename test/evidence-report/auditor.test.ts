/**
 * What an auditor needs from the report: the verification and witness status first, a signed JSON
 * report `verify-report` checks, approver notes, PRs merged over a standing "changes requested",
 * every allowed decision as CSV, and an access review per commit read from the repo's history.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEvidenceReport } from '../../cli/evidence-report.ts';
import type { EvidenceReport } from '../../runtime/evidence-report/index.ts';
import { accessReviewAt } from '../../runtime/evidence-report/access-review.ts';
import { DEV_KEY_FILE, DEV_PUBLIC_KEY_FILE } from '../../runtime/evidence/keys.ts';
import { portcullis } from '../evidence-cli/cli.ts';
import { buildFixture, COMMIT_A, COMMIT_B, type EvidenceFixture } from './fixture.ts';
import { startGithubServer, type GithubServer } from './github-server.ts';

let f: EvidenceFixture;
let gh: GithubServer;
let pub: string;
let priv: string;
beforeAll(async () => {
  [f, gh] = await Promise.all([buildFixture(), startGithubServer()]);
  // The fixture's store keeps the library default key beside the log; an auditor names it explicitly.
  pub = join(f.dataDir, 'evidence', DEV_PUBLIC_KEY_FILE);
  priv = join(f.dataDir, 'evidence', DEV_KEY_FILE);
});
afterAll(async () => {
  await Promise.all([f?.close(), gh?.close()]);
});

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runEvidenceReport(argv, { env, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}
const github = () => ({ GITHUB_TOKEN: 'tok', GITHUB_REPOSITORY: 'acme/policies', GITHUB_API_URL: gh.url });
const byKey = (r: EvidenceReport, key: string) => r.commits.find((c) => c.key === key)!;

describe("the auditor's report", () => {
  it('starts with the verification and witness status', async () => {
    const { code, stdout } = await run(['--data-dir', f.dataDir, '--key', pub, '--no-witness']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as EvidenceReport;
    expect(Object.keys(report).slice(0, 2)).toEqual(['version', 'verification']);
    expect(report.verification).toMatchObject({ status: 'verified', keys: `--key ${pub}` });
    const witnessed = JSON.parse((await run(['--data-dir', f.dataDir, '--key', pub])).stdout) as EvidenceReport;
    // The fixture's store had no witness: the report says so instead of passing it over.
    expect(witnessed.verification).toMatchObject({ status: 'failed', witness: { state: 'missing' } });
    const html = (await run(['--data-dir', f.dataDir, '--key', pub, '--format', 'html'])).stdout;
    expect(html.indexOf('Evidence FAILED verification')).toBeLessThan(html.indexOf('<h2>'));
  });

  it('is signed, and verify-report tells an authentic report from an edited one', async () => {
    const out = join(f.dataDir, 'report.json');
    const { code, stderr } = await run(['--data-dir', f.dataDir, '--key', pub, '--no-witness', '--out', out, '--sign-key', priv]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/signed the report: .*report\.json\.sig/);
    const ok = await portcullis(['evidence', 'verify-report', out, '--key', pub]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^report authentic: signed by key [0-9a-f]{16} .*the evidence it reports on was verified/);
    const text = await readFile(out, 'utf8');
    await writeFile(
      out,
      text.replace(/"allow": (\d+)/, (_, n) => `"allow": ${Number(n) - 1}`),
    );
    const edited = await portcullis(['evidence', 'verify-report', out, '--key', pub]);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/^report NOT authentic: the signature does not match the report/);
    await writeFile(out, text);
    const { publicKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ed25519'));
    const other = join(f.dataDir, 'other.pub.pem');
    await writeFile(other, publicKey.export({ type: 'spki', format: 'pem' }));
    const untrusted = await portcullis(['evidence', 'verify-report', out, '--key', other]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toMatch(/not a trusted key/);
  });

  it('keeps approvers\' notes and flags a PR merged over a standing "changes requested"', async () => {
    const report = JSON.parse((await run(['--data-dir', f.dataDir, '--no-witness'], github())).stdout) as EvidenceReport;
    const granted = byKey(report, COMMIT_A).approvals.list.find((a) => a.id === f.approvalIds.granted)!;
    expect(granted.notes).toEqual([{ approver: 'alice', at: expect.any(String), note: 'ticket 42' }]);
    const denied = byKey(report, COMMIT_B).approvals.list.find((a) => a.id === f.approvalIds.denied)!;
    expect(denied.notes).toEqual([]);
    expect(denied.denialReason).toBe('use the vault');
    expect(byKey(report, COMMIT_A).flags).toEqual([]);
    expect(byKey(report, COMMIT_B).flags).toEqual([{ kind: 'merged-over-changes-requested', reviewers: ['hal'], message: 'pull request #15 was merged while hal still requested changes' }]);
  });

  it('lists every allowed decision, as CSV', async () => {
    const report = JSON.parse((await run(['--data-dir', f.dataDir, '--no-witness'])).stdout) as EvidenceReport;
    const r = await portcullis(['evidence', 'decisions', '--data-dir', f.dataDir, '--effect', 'allow']);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\r\n').filter(Boolean);
    expect(rows[0]).toBe('"ts","evidenceSeq","sessionId","seq","identity","target","effect","request","rules","masks","commit"');
    expect(rows).toHaveLength(1 + report.totals.byEffect.allow);
    for (const row of rows.slice(1)) expect(row).toMatch(/^"[^"]+","\d+","[^"]+","\d+","[^"]*","[^"]*","allow",/);
    expect(r.stdout).toContain('"select name, email, phone from customers where id = 7"');
    const json = await portcullis(['evidence', 'decisions', '--data-dir', f.dataDir, '--effect', 'deny', '--format', 'json']);
    const denials = json.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(denials).toHaveLength(report.totals.byEffect.deny);
    expect(denials.every((d) => d.effect === 'deny')).toBe(true);
  });
});

describe('the access review of a commit', () => {
  const run = promisify(execFile);
  let repo: string;
  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'pc-access-repo-'));
    await cp('policies', join(repo, 'policies'), { recursive: true });
    const git = (...args: string[]) => run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]);
    await git('init', '-q');
    await git('add', '.');
    await git('commit', '-qm', 'policies');
  });
  afterAll(() => rm(repo, { recursive: true, force: true }));

  it('lists subjects × targets × actions with effects and masks, from the bundle at that commit', async () => {
    const sha = (await run('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout.trim();
    // The work tree changes afterwards: the review still shows the commit.
    await rm(join(repo, 'policies', 'policies', 'support.yaml'));
    const review = await accessReviewAt(join(repo, 'policies'), sha);
    expect(review.source).toContain(sha.slice(0, 12));
    const read = review.entries.find((e) => e.rule === 'support-read/read-shop')!;
    expect(read).toMatchObject({ effect: 'allow', actions: ['select'] });
    expect(read.subjects.length).toBeGreaterThan(0);
    expect(read.masks).toContain('shop-db government-id (customers.ssn): redact');
    expect(review.entries.filter((e) => e.effect === 'deny').every((e) => e.masks.length === 0)).toBe(true);
    expect(review.entries.some((e) => e.effect === 'review' && e.approvers)).toBe(true);
    const missing = await accessReviewAt(join(repo, 'policies'), 'f'.repeat(40));
    expect(missing.entries).toEqual([]);
    expect(missing.source).toMatch(/could not be read/);
  });
});

describe('grants and the decisions they covered', () => {
  it("lists the grantee's review decisions by the grant's rule while it was open, and no others", async () => {
    const { FileEvidenceStore } = await import('../../runtime/evidence/store.ts');
    const { buildEvidenceReport } = await import('../../runtime/evidence-report/index.ts');
    const dir = await mkdtemp(join(tmpdir(), 'pc-grants-'));
    try {
      const store = await FileEvidenceStore.open(join(dir, 'evidence'));
      const revision = { commit: COMMIT_A, dirty: false, digest: 'd'.repeat(64) };
      const rule = { policy: 'data-deletes', rule: 'need-dba' };
      const decision = (identity: string, sessionId: string, seq: number, text: string, effect = 'review', rules = [rule]) =>
        store.append('decision', {
          sessionId,
          seq,
          request: { protocol: 'postgres', target: 'shop-db', subject: { identity, groups: [] }, statement: { text, class: 'delete', tables: ['orders'] } },
          decision: { effect, rules, revision, masks: [], reason: '' },
        });
      await store.append('bundle.loaded', { revision, previous: null, files: 1 });
      const t = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
      await store.append('approval.requested', { id: 'ap-1', revision, requester: { identity: 'data-agent' }, target: 'shop-db', summary: 'delete', rule });
      await decision('data-agent', 's1', 1, 'delete from orders where id = 1');
      await store.append('approval.approved', { id: 'ap-1', approver: 'alice', note: 'one day only', complete: true });
      await store.append('grant.opened', { id: 'gr-1', approvalId: 'ap-1', identity: 'data-agent', target: 'shop-db', rule, scope: 'rule', openedAt: t(-1), expiresAt: t(60) });
      await decision('data-agent', 's1', 2, 'delete from orders where id = 2');
      await decision('other-agent', 's2', 1, 'delete from orders where id = 3');
      await decision('data-agent', 's1', 3, 'delete from orders where id = 4', 'review', [{ policy: 'other', rule: 'x' }]);
      await decision('data-agent', 's3', 1, 'delete from orders where id = 5');
      await store.append('grant.expired', { id: 'gr-1', reason: 'expired' });
      await decision('data-agent', 's1', 4, 'delete from orders where id = 6');
      await store.close();
      const report = await buildEvidenceReport({ dataDir: dir });
      const grant = report.commits[0]!.grants.list[0]!;
      expect(grant.covered.total).toBe(2);
      expect(grant.covered.decisions.map((d) => d.request)).toEqual(['delete from orders where id = 2', 'delete from orders where id = 5']);
      expect(report.commits[0]!.approvals.list[0]!.notes).toMatchObject([{ approver: 'alice', note: 'one day only' }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
