/**
 * Lint a generated repo of 1,000 files (targets, identities, policies, tests) and time it; the
 * budget is 2 seconds. Run with `npx tsx bench/lint.ts [FILES]`; exits 1 over budget.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGeneratedRepo } from './generated-repo.ts';
import { lintRepo } from '../runtime/lint/run.ts';

const files = Number(process.argv[2] ?? 1000);
const budgetMs = 2000;

const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-lint-'));
try {
  await writeGeneratedRepo(dir, files);
  // The first run also pays for compiling the JSON Schemas once per process; both are reported.
  const coldStart = performance.now();
  await lintRepo(dir);
  const cold = Math.round(performance.now() - coldStart);
  const started = performance.now();
  const report = await lintRepo(dir);
  const ms = Math.round(performance.now() - started);
  const verdict = ms <= budgetMs ? 'ok' : 'OVER BUDGET';
  process.stdout.write(`lint: ${report.files} files, ${report.findings.length} findings (${report.counts.error} errors) in ${ms} ms (first run ${cold} ms; budget ${budgetMs} ms) ${verdict}\n`);
  process.exitCode = ms <= budgetMs ? 0 : 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
