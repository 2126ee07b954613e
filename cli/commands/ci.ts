import { appendFileSync, readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';
import type { SimulateReport } from '../../runtime/simulate/types.ts';
import { githubContext } from '../../runtime/github/env.ts';
import { githubClient, publish } from '../../runtime/github/publish.ts';
import { annotationsOf } from '../../runtime/github/annotations.ts';
import { policyCheck } from '../../runtime/github/check.ts';
import { ownerApproval } from '../../runtime/safety/approvals.ts';
import { lintMarkdown, testMarkdown } from '../reporters/markdown.ts';
import { diffMarkdown, rebaseSimulate, safetyMarkdown, simulateMarkdown } from '../reporters/simulate.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

export default defineCommand(
  {
    name: 'ci',
    summary: 'Report lint, test, simulate, the permission diff and safety-configuration changes to GitHub: one pull-request comment (updated in place) and a check run with annotations.',
    usage: 'portcullis ci github [DIR] [--base REF] [--recordings PATH|URL] [--lint FILE] [--test FILE] [--simulate FILE] [--seed N] [--name NAME]',
    positionals: true,
    options: {
      base: { type: 'string' },
      recordings: { type: 'string' },
      lint: { type: 'string' },
      test: { type: 'string' },
      simulate: { type: 'string' },
      seed: { type: 'string' },
      name: { type: 'string', default: 'portcullis' },
    },
    help: {
      base: 'git ref of the base revision: its settings, invariants and recordings judge the change, and the permission diff compares against it',
      recordings: "file, folder or http(s) URL of recorded requests when simulating now (default: the base's spec.recordings)",
      lint: "JSON from 'portcullis lint --format json' (default: lint now; relinted when the PR changes the repo settings)",
      test: "JSON from 'portcullis test --format json' (default: test now; retested when the PR changes the repo settings)",
      simulate: "JSON from 'portcullis simulate --format json' (default: simulate now)",
      seed: 'seed of the invariant search when simulating now',
      name: 'name of the check run (default portcullis)',
    },
  },
  async ({ values, positionals }) => {
    const [sub, dirArg, ...extra] = positionals;
    if (sub !== 'github' || extra.length > 0) {
      throw new PortcullisError('invalid_argument', sub ? `unknown ci target '${sub}'` : 'missing ci target', { details: { hint: 'portcullis ci github [DIR]' } });
    }
    const ctx = githubContext();
    const dir = policyDir(dirArg);
    const read = <T>(file: string): T => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as T;
      } catch (err) {
        throw PortcullisError.from(err, 'invalid_argument', `cannot read report ${file}: ${(err as Error).message}`);
      }
    };
    const seed = values.seed !== undefined ? Number(values.seed) : undefined;
    const lintInput = values.lint ? read<LintReport>(values.lint as string) : undefined;
    const testInput = values.test ? read<TestReport>(values.test as string) : undefined;
    const octokit = githubClient(ctx);
    const check = await policyCheck({
      dir,
      ...(values.base ? { base: values.base as string } : {}),
      ...(values.recordings ? { recordings: values.recordings as string } : {}),
      ...(lintInput ? { lint: lintInput } : {}),
      ...(testInput ? { test: testInput } : {}),
      ...(values.simulate ? { simulate: read<SimulateReport>(values.simulate as string) } : {}),
      ...(seed !== undefined ? { seed } : {}),
      approval: async (owners) => {
        try {
          return await ownerApproval(octokit, ctx, owners);
        } catch (err) {
          return { owners, approvedBy: [], problem: `cannot read the pull request's reviews: ${(err as Error).message}` };
        }
      },
    });

    // Paths in reports computed here are relative to the policy folder; annotations want them from
    // the checkout root, where the reports of earlier steps already are.
    const to = (f: string) => rebase(dir, f);
    const relinted = !values.lint || check.lint !== lintInput;
    const lint = relinted ? { ...check.lint, findings: check.lint.findings.map((f) => ({ ...f, file: to(f.file) })) } : check.lint;
    const retested = !values.test || check.test !== testInput;
    const test = check.test && retested ? { ...check.test, cases: check.test.cases.map((c) => ({ ...c, file: to(c.file) })) } : check.test;
    const simulation = check.simulate && !values.simulate ? rebaseSimulate(check.simulate, to) : check.simulate;
    const safety = simulation?.safety;
    const diff = check.diff && { ...check.diff, changes: check.diff.changes.map((c) => ({ ...c, file: to(c.file) })) };

    const bad = check.failed;
    const markdown = [
      `## Portcullis policy check ${bad ? '❌' : '✅'}`,
      '',
      safety ? safetyMarkdown(safety) : '',
      lintMarkdown(lint),
      test ? testMarkdown(test) : '### Policy tests: not run (the policy does not load)\n',
      diff ? diffMarkdown(diff, check.approved) : '',
      simulation ? simulateMarkdown(simulation) : check.simulationError ? `### ❌ Simulation failed\n\n${check.simulationError}\n` : '### Simulation: not run (the policy does not load)\n',
      check.codeowners.length ? `### ⚠️ CODEOWNERS\n\n${check.codeowners.map((p) => `- ${p}`).join('\n')}\n\nFix with \`portcullis codeowners\`.\n` : '',
    ]
      .filter((s) => s !== '')
      .join('\n');
    const title = bad ? 'Policy check failed' : 'Policy check passed';
    // The job summary first: it needs no token, so a read-only token (a fork's pull request) still leaves the report.
    if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, markdown);
    const annotations = annotationsOf({
      lint,
      ...(test ? { test } : {}),
      ...(simulation ? { simulate: simulation } : {}),
      ...(diff ? { diff } : {}),
      ...(safety ? { safety } : {}),
      approved: check.approved,
    });
    try {
      const result = await publish(ctx, markdown, { name: values.name as string, conclusion: bad ? 'failure' : 'success', title, summary: markdown, annotations });
      process.stdout.write(`${title}: ${result.comment ? `comment ${result.comment.id} ${result.comment.created ? 'created' : 'updated'}, ` : ''}check run ${result.checkRunId}\n`);
    } catch (err) {
      process.stderr.write(`portcullis: ${PortcullisError.from(err).describe()}\n`);
      process.stdout.write(`${title} (not published to GitHub; the report is in the job summary)\n`);
      return 1;
    }
    return bad ? 1 : 0;
  },
);
