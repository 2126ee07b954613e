/**
 * `portcullis evidence report`: for each policy commit, when it was live, what it decided, what it
 * denied and masked, which approvals it asked for, and the pull request (with reviewers) that
 * introduced it. Mounted as the `report` subcommand of `portcullis evidence`.
 *
 * stdout carries the report and nothing else (so `> report.json` works); notes go to stderr.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PortcullisError } from '../runtime/errors.ts';
import { buildEvidenceReport, renderHtml, renderJson, type GithubOptions } from '../runtime/evidence-report/index.ts';
import { defineCommand } from './command.ts';

const formats = ['json', 'html'] as const;
type Format = (typeof formats)[number];

export interface EvidenceReportDeps {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  now?: () => Date;
}

/** A bare date means the start of that day in UTC, not local midnight: reports must not depend on the auditor's timezone. */
export function parseSince(value: string): Date {
  const text = value.trim();
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (text === '' || Number.isNaN(date.getTime())) {
    throw new PortcullisError('invalid_argument', `--since '${value}' is not a date`, { details: { hint: 'use 2030-01-31 or an ISO time like 2030-01-31T12:00:00Z' } });
  }
  return date;
}

function formatOf(flag: string | undefined, out: string | undefined): Format {
  if (flag === undefined) return out !== undefined && /\.html?$/i.test(out) ? 'html' : 'json';
  if (!(formats as readonly string[]).includes(flag)) {
    throw new PortcullisError('invalid_argument', `--format must be json or html, not '${flag}'`, { details: { hint: "run 'portcullis evidence report --help'" } });
  }
  return flag as Format;
}

function command(deps: EvidenceReportDeps) {
  return defineCommand(
    {
      name: 'evidence report',
      summary: 'Report the evidence per policy commit: when it was live, decisions, denials, approvals, masking, and the PR that introduced it.',
      usage: 'portcullis evidence report [--data-dir .portcullis] [--commit SHA] [--since DATE] [--format json|html] [--out FILE]',
      options: {
        'data-dir': { type: 'string', default: '.portcullis' },
        commit: { type: 'string' },
        since: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string', short: 'o' },
      },
      help: {
        'data-dir': 'the gateway data directory holding evidence/ (default .portcullis)',
        commit: 'only this policy commit (a SHA or a prefix of at least 4 characters)',
        since: 'only evidence from this date or time on (2030-01-31, or ISO 8601)',
        format: 'json or html (default json, or html when --out ends in .html)',
        out: 'write the report to this file instead of stdout',
      },
    },
    async ({ values }) => {
      const out = values.out;
      const format = formatOf(values.format, out);
      const since = values.since !== undefined ? parseSince(values.since) : undefined;
      if (values.commit !== undefined && values.commit.trim() === '') throw new PortcullisError('invalid_argument', '--commit is empty');
      const env = deps.env ?? process.env;
      // Only with both set is GitHub configured; otherwise the report says PR information is absent.
      const github: GithubOptions | undefined = env.GITHUB_REPOSITORY || env.GITHUB_TOKEN ? { env, ...(deps.fetch ? { fetch: deps.fetch } : {}) } : undefined;
      const report = await buildEvidenceReport({
        dataDir: values['data-dir']!,
        ...(values.commit !== undefined ? { commit: values.commit } : {}),
        ...(since ? { since } : {}),
        ...(github ? { github } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      });
      const text = format === 'html' ? renderHtml(report) : renderJson(report);
      const stderr = deps.stderr ?? ((t: string) => void process.stderr.write(t));
      if (out !== undefined) {
        try {
          await writeFile(resolve(out), text);
        } catch (err) {
          throw PortcullisError.from(err, 'failed_precondition', `cannot write ${out}: ${(err as Error).message}`);
        }
        stderr(`wrote ${format.toUpperCase()} report for ${report.totals.commits} policy commit(s) to ${out}\n`);
      } else {
        (deps.stdout ?? ((t: string) => void process.stdout.write(t)))(text);
      }
      if (report.github.configured && report.github.note.startsWith('pull request information is incomplete')) stderr(`portcullis: ${report.github.note}\n`);
      return 0;
    },
  );
}

export async function runEvidenceReport(argv: string[], deps: EvidenceReportDeps = {}): Promise<number> {
  return command(deps).run(argv);
}
