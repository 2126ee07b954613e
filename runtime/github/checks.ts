/**
 * The check run: a conclusion on the commit, a summary, and the findings as annotations on the
 * diff. The API takes at most 50 annotations per request, so the first batch goes with the create
 * and the rest with updates; the last request completes the run.
 */
import type { Octokit } from '@octokit/rest';
import type { GithubContext } from './env.ts';

export interface CheckAnnotation {
  path: string;
  line: number;
  column?: number;
  level: 'failure' | 'warning' | 'notice';
  title: string;
  message: string;
}

export interface CheckReport {
  name: string;
  conclusion: 'success' | 'failure' | 'neutral';
  title: string;
  summary: string;
  annotations: CheckAnnotation[];
}

export const BATCH = 50;

export async function publishCheckRun(octokit: Octokit, ctx: GithubContext, report: CheckReport): Promise<number> {
  const batches: CheckAnnotation[][] = [];
  for (let i = 0; i < report.annotations.length; i += BATCH) batches.push(report.annotations.slice(i, i + BATCH));
  if (batches.length === 0) batches.push([]);
  const output = (batch: CheckAnnotation[]) => ({
    title: report.title,
    summary: truncate(report.summary),
    ...(batch.length ? { annotations: batch.map(toApi) } : {}),
  });
  const last = batches.length - 1;
  const done = { status: 'completed' as const, conclusion: report.conclusion };
  const { data } = await octokit.rest.checks.create({
    owner: ctx.owner,
    repo: ctx.repo,
    name: report.name,
    head_sha: ctx.headSha,
    ...(last === 0 ? done : { status: 'in_progress' as const }),
    output: output(batches[0]!),
  });
  for (let i = 1; i <= last; i++) {
    await octokit.rest.checks.update({
      owner: ctx.owner,
      repo: ctx.repo,
      check_run_id: data.id,
      ...(i === last ? done : {}),
      output: output(batches[i]!),
    });
  }
  return data.id;
}

function toApi(a: CheckAnnotation) {
  return {
    path: a.path,
    start_line: a.line,
    end_line: a.line,
    ...(a.column !== undefined ? { start_column: a.column, end_column: a.column } : {}),
    annotation_level: a.level,
    title: a.title,
    message: a.message,
  };
}

/** The API refuses summaries over 65535 characters. */
function truncate(s: string): string {
  return s.length <= 65_000 ? s : `${s.slice(0, 65_000)}\n\n…(truncated)`;
}
