/**
 * `buildEvidenceReport`: the evidence log attributed to policy commits, joined with the pull
 * requests that introduced them. Reading the log never verifies it; `portcullis evidence verify`
 * does, and an auditor runs both.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { evidenceLogPath } from '../evidence/store.ts';
import { collect } from './collect.ts';
import { GITHUB_CACHE_FILE, GithubCache } from './github-cache.ts';
import { githubClient, lookupPullRequests, type GithubOptions } from './github.ts';
import { matchesCommit } from './revision-key.ts';
import { REPORT_VERSION, type CommitReport, type EvidenceReport, type GithubStatus, type PullRequestLookup, type ReportVerification } from './types.ts';
import type { KeyObject } from 'node:crypto';
import { verifyEvidence } from '../evidence/verify.ts';
import { accessReviewAt } from './access-review.ts';

/** A pull request merged while a reviewer's "changes requested" still stood. */
function prFlags(lookup: PullRequestLookup | undefined): CommitReport['flags'] {
  if (lookup?.status !== 'found' || !lookup.pullRequest.mergedAt) return [];
  const standing = lookup.pullRequest.reviewers.filter((r) => r.state === 'CHANGES_REQUESTED').map((r) => r.login);
  if (standing.length === 0) return [];
  return [{ kind: 'merged-over-changes-requested', reviewers: standing, message: `pull request #${lookup.pullRequest.number} was merged while ${standing.join(', ')} still requested changes` }];
}

async function verificationOf(evidenceDir: string, verify: BuildEvidenceReportOptions['verify']): Promise<ReportVerification> {
  if (!verify) return { status: 'not-verified', reason: 'no verification keys were given' };
  if ('unavailable' in verify) return { status: 'not-verified', reason: verify.unavailable };
  try {
    const v = await verifyEvidence(evidenceDir, verify.keys, verify.witness !== undefined ? { witness: verify.witness } : {});
    return {
      status: v.ok ? 'verified' : 'failed',
      records: v.records,
      checkpoints: v.checkpoints,
      lastCheckpointSeq: v.lastCheckpointSeq,
      unsignedTail: v.unsignedTail,
      ...(v.firstProblem ? { firstProblem: v.firstProblem } : {}),
      ...(v.witness
        ? {
            witness: {
              path: v.witness.path,
              state: v.witness.state,
              message: v.witness.message,
              ...(v.witness.lastWitnessedSeq !== undefined ? { lastWitnessedSeq: v.witness.lastWitnessedSeq } : {}),
              ...(v.witness.lastWitnessedAt !== undefined ? { lastWitnessedAt: v.witness.lastWitnessedAt } : {}),
            },
          }
        : {}),
      keys: verify.keySource,
    };
  } catch (error) {
    return { status: 'not-verified', reason: PortcullisError.from(error).message };
  }
}

export interface BuildEvidenceReportOptions {
  /** the gateway's data directory (evidence in `<dataDir>/evidence`, the GitHub cache beside it) */
  dataDir?: string;
  /** the evidence directory itself, when it is not `<dataDir>/evidence` */
  evidenceDir?: string;
  /** only this commit: a full SHA, a prefix of at least 4 characters, or a report key */
  commit?: string;
  /** only evidence at or after this instant */
  since?: Date;
  /** GitHub access; absent: PR information is absent and the report says why */
  github?: GithubOptions;
  /** default `<dataDir>/github-cache.json` */
  cacheFile?: string;
  /** most recent denials listed per commit; default 50 */
  denialLimit?: number;
  now?: () => Date;
  /** verify the log first, with these keys and this witness; absent: the report says it is not verified, and why */
  verify?: { keys: readonly KeyObject[]; keySource: string; witness?: string } | { unavailable: string };
  /** the policy repo (a git work tree): each commit's access review is read from its history */
  policies?: string;
}

export async function buildEvidenceReport(opts: BuildEvidenceReportOptions): Promise<EvidenceReport> {
  if (!opts.dataDir && !opts.evidenceDir) throw new PortcullisError('invalid_argument', 'give a data directory or an evidence directory');
  const evidenceDir = resolve(opts.evidenceDir ?? join(opts.dataDir!, 'evidence'));
  if (!existsSync(evidenceLogPath(evidenceDir))) {
    throw new PortcullisError('not_found', `no evidence log at ${evidenceLogPath(evidenceDir)}`, {
      details: { hint: 'point --data-dir at the directory the gateway ran with (default .portcullis)' },
    });
  }
  if (opts.since && Number.isNaN(opts.since.getTime())) throw new PortcullisError('invalid_argument', 'since is not a valid date');
  const now = opts.now ?? (() => new Date());

  const collected = await collect(evidenceDir, { ...(opts.since ? { since: opts.since } : {}), ...(opts.denialLimit !== undefined ? { denialLimit: opts.denialLimit } : {}) });
  let commits = collected.commits;
  if (opts.commit !== undefined) {
    const wanted = opts.commit.trim();
    commits = commits.filter((c) => matchesCommit(c, wanted));
    const distinct = new Set(commits.map((c) => c.commit ?? c.key));
    if (commits.length === 0) {
      const known = collected.commits.map((c) => c.key.slice(0, 12));
      throw new PortcullisError('not_found', `no evidence for policy commit ${wanted}${opts.since ? ` since ${opts.since.toISOString()}` : ''}`, {
        details: { hint: known.length ? `commits in the log: ${known.join(', ')}` : 'the log holds no decisions or bundle loads' },
      });
    }
    if (distinct.size > 1) {
      throw new PortcullisError('invalid_argument', `commit prefix ${wanted} is ambiguous: ${[...distinct].map((c) => c.slice(0, 12)).join(', ')}`);
    }
  }

  const cacheFile = resolve(opts.cacheFile ?? join(opts.dataDir ?? dirname(evidenceDir), GITHUB_CACHE_FILE));
  const client = githubClient(opts.github);
  let github: GithubStatus;
  if ('note' in client) {
    github = { configured: false, note: client.note, apiCalls: 0 };
  } else {
    const cache = await GithubCache.open(cacheFile);
    const shas = [...new Set(commits.flatMap((c) => (c.commit ? [c.commit] : [])))];
    const outcome = await lookupPullRequests(client, cache, shas, now);
    for (const c of commits) {
      const found = c.commit ? outcome.lookups.get(c.commit) : undefined;
      if (found) c.pullRequest = found;
    }
    await cache.save().catch((err: unknown) => {
      // A read-only data dir costs repeat API calls next time, not the report.
      outcome.failure ??= `the GitHub cache ${cacheFile} could not be written: ${(err as Error).message}`;
    });
    const dirtyNote = commits.some((c) => c.dirty) ? '; revisions with uncommitted changes show the PR of the commit they started from, not of what was served' : '';
    github = {
      configured: true,
      repository: client.repository,
      note: outcome.failure ? `pull request information is incomplete: ${outcome.failure}` : `pull requests from ${client.repository}${dirtyNote}`,
      apiCalls: outcome.apiCalls,
      cacheFile,
    };
  }

  for (const c of commits) c.flags.push(...prFlags(c.pullRequest));
  if (opts.policies) {
    for (const c of commits) if (c.commit) c.accessReview = await accessReviewAt(opts.policies, c.commit);
  }
  const verification = await verificationOf(evidenceDir, opts.verify);

  const sum = (f: (c: (typeof commits)[number]) => number) => commits.reduce((n, c) => n + f(c), 0);
  return {
    version: REPORT_VERSION,
    verification,
    generatedAt: now().toISOString(),
    source: {
      evidenceDir,
      records: collected.records,
      ...(collected.firstTs ? { firstTs: collected.firstTs } : {}),
      ...(collected.lastTs ? { lastTs: collected.lastTs } : {}),
    },
    filter: { ...(opts.commit !== undefined ? { commit: opts.commit } : {}), ...(opts.since ? { since: opts.since.toISOString() } : {}) },
    github,
    totals: {
      commits: commits.length,
      decisions: sum((c) => c.decisions.total),
      byEffect: { allow: sum((c) => c.decisions.byEffect.allow), review: sum((c) => c.decisions.byEffect.review), deny: sum((c) => c.decisions.byEffect.deny) },
      denials: sum((c) => c.denials.total),
      maskedValues: sum((c) => c.masking.maskedValues),
      // a session spanning a reload counts under both commits; this is the number of distinct ones
      sessions: new Set(commits.flatMap((c) => c.sessionIds)).size,
      approvalsRequested: sum((c) => c.approvals.requested),
      bundlesRejected: collected.bundlesRejected,
    },
    commits: commits.map(({ sessionIds: _ids, ...c }) => c),
    unattributed: collected.unattributed,
  };
}
