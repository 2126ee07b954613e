/**
 * Runs bench/lint.ts (written separately, a script with top-level effects) in a child process, so
 * its stdout cannot mix into --json and its exit status (1 over budget) does not become ours: a
 * benchmark reports a slow lint, it does not fail on it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LintResult {
  files: number;
  findings: number;
  errors: number;
  ms: number;
  firstRunMs: number;
  budgetMs: number;
  withinBudget: boolean;
  line: string;
}

export async function runLintSuite(): Promise<LintResult | undefined> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'lint.ts');
  if (!existsSync(script)) return undefined;
  const { out, code } = await new Promise<{ out: string; code: number | null }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ out, code: c }));
  });
  const m = /lint: (\d+) files, (\d+) findings \((\d+) errors\) in (\d+) ms \(first run (\d+) ms; budget (\d+) ms\)/.exec(out);
  if (!m) throw new Error(`bench/lint.ts exited ${code} without its result line:\n${out.trim().split('\n').slice(-6).join('\n')}`);
  const [ms, budgetMs] = [Number(m[4]), Number(m[6])];
  return { files: Number(m[1]), findings: Number(m[2]), errors: Number(m[3]), ms, firstRunMs: Number(m[5]), budgetMs, withinBudget: ms <= budgetMs, line: m[0] };
}

export function formatLint(r: LintResult): string {
  return `Lint of a generated ${r.files}-file repo: ${r.ms} ms (first run in the process ${r.firstRunMs} ms, schemas compiled), budget ${r.budgetMs} ms: ${r.withinBudget ? 'within' : 'OVER'}; ${r.findings} findings`;
}
