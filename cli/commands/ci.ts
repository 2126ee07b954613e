import { appendFileSync, readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { tryLoadBundle } from '../../runtime/bundle/load.ts';
import { lintRepo } from '../../runtime/lint/run.ts';
import { runPolicyTests } from '../../runtime/policytest/run.ts';
import { simulate } from '../../runtime/simulate/run.ts';
import type { LintReport } from '../../runtime/lint/types.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';
import type { SimulateReport } from '../../runtime/simulate/types.ts';
import { githubContext } from '../../runtime/github/env.ts';
import { publish } from '../../runtime/github/publish.ts';
import { annotationsOf, failed } from '../../runtime/github/annotations.ts';
import { lintMarkdown, testMarkdown, simulateMarkdown } from '../reporters/markdown.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

export default defineCommand(
  {
    name: 'ci',
    summary: 'Report lint, test and simulate results to GitHub: one pull-request comment (updated in place) and a check run with annotations.',
    usage: 'portcullis ci github [DIR] [--base REF] [--lint FILE] [--test FILE] [--simulate FILE] [--name NAME]',
    positionals: true,
    options: {
      base: { type: 'string' },
      lint: { type: 'string' },
      test: { type: 'string' },
      simulate: { type: 'string' },
      seed: { type: 'string' },
      name: { type: 'string', default: 'portcullis' },
    },
    help: {
      base: 'git ref to simulate against when --simulate is not given',
      lint: "JSON from 'portcullis lint --format json' (default: lint now)",
      test: "JSON from 'portcullis test --format json' (default: test now)",
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

    let lint: LintReport;
    if (values.lint) lint = read<LintReport>(values.lint as string);
    else {
      const raw = await lintRepo(dir);
      lint = { ...raw, findings: raw.findings.map((f) => ({ ...f, file: rebase(dir, f.file) })) };
    }
    let test: TestReport | undefined;
    let simulation: SimulateReport | undefined;
    if (values.test) test = read<TestReport>(values.test as string);
    if (values.simulate) simulation = read<SimulateReport>(values.simulate as string);
    // Tests and simulation need a bundle; with lint errors there is none, and lint says why.
    const loaded = !test || !simulation ? await tryLoadBundle(dir) : undefined;
    if (!test && loaded?.bundle) {
      const raw = runPolicyTests(loaded.bundle);
      test = { ...raw, cases: raw.cases.map((c) => ({ ...c, file: rebase(dir, c.file) })) };
    }
    let simulationError: string | undefined;
    if (!simulation && loaded?.bundle) {
      const seed = values.seed !== undefined ? Number(values.seed) : undefined;
      try {
        const raw = await simulate({ dir, ...(values.base ? { base: values.base as string } : {}), ...(seed !== undefined ? { seed } : {}) });
        simulation = { ...raw, invariants: raw.invariants.map((i) => ({ ...i, file: rebase(dir, i.file) })) };
      } catch (err) {
        // The report still goes out: a PR whose base cannot be read must say so, not stay silent.
        simulationError = PortcullisError.from(err).describe();
      }
    }

    const reports = { lint, ...(test ? { test } : {}), ...(simulation ? { simulate: simulation } : {}) };
    const bad = failed(reports) || simulationError !== undefined;
    const markdown = [
      `## Portcullis policy check ${bad ? '❌' : '✅'}`,
      '',
      lintMarkdown(lint),
      test ? testMarkdown(test) : '### Policy tests: not run (the policy does not load)\n',
      simulation ? simulateMarkdown(simulation) : simulationError ? `### ❌ Simulation failed\n\n${simulationError}\n` : '### Simulation: not run (the policy does not load)\n',
    ].join('\n');
    const title = bad ? 'Policy check failed' : 'Policy check passed';
    const result = await publish(ctx, markdown, { name: values.name as string, conclusion: bad ? 'failure' : 'success', title, summary: markdown, annotations: annotationsOf(reports) });
    if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, markdown);
    process.stdout.write(`${title}: ${result.comment ? `comment ${result.comment.id} ${result.comment.created ? 'created' : 'updated'}, ` : ''}check run ${result.checkRunId}\n`);
    return bad ? 1 : 0;
  },
);
