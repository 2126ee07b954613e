import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { simulate } from '../../runtime/simulate/run.ts';
import type { SimulateReport } from '../../runtime/simulate/types.ts';
import { simulateText } from '../reporters/simulate.ts';
import { json } from '../reporters/json.ts';
import { rebaseSimulate, safetyMarkdown, simulateMarkdown } from '../reporters/simulate.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

const formats = ['text', 'json', 'markdown'] as const;

export default defineCommand(
  {
    name: 'simulate',
    summary: 'Replay recorded requests against the base and head revisions, and search every invariant for a counterexample.',
    usage: 'portcullis simulate [DIR] --base REF [--head REF|worktree] [--recordings PATH|URL] [--format text|json|markdown] [--seed N] [--runs N]',
    positionals: true,
    options: {
      base: { type: 'string' },
      head: { type: 'string', default: 'worktree' },
      recordings: { type: 'string' },
      format: { type: 'string', short: 'f', default: 'text' },
      seed: { type: 'string' },
      runs: { type: 'string' },
    },
    help: {
      base: 'git ref of the revision to compare against (read from history; the work tree is not touched); without it only invariants are checked',
      head: "git ref of the changed revision, or 'worktree' (default)",
      recordings:
        "file, folder or http(s) URL of recorded requests (JSON lines, as 'portcullis sessions export' writes them); default: the base's spec.recordings as committed at the base, plus the head's",
      format: `output format: ${formats.join(', ')} (default text)`,
      seed: 'seed of the invariant search; the report prints the one used',
      runs: 'generated requests per invariant (default 1000)',
    },
  },
  async ({ values, positionals }) => {
    const format = values.format as string;
    if (!(formats as readonly string[]).includes(format)) throw new PortcullisError('invalid_argument', `unknown format '${format}'`, { details: { hint: `one of ${formats.join(', ')}` } });
    const int = (flag: string, v: string | undefined, min: number) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new PortcullisError('invalid_argument', `--${flag} must be an integer of at least ${min}`);
      return n;
    };
    const seed = int('seed', values.seed as string | undefined, -(2 ** 31));
    const runs = int('runs', values.runs as string | undefined, 1);
    const dir = policyDir(positionals[0]);
    // Progress is for a person watching; piped or in CI, stderr stays quiet and stdout is pure format.
    const onProgress = process.stderr.isTTY ? (m: string) => process.stderr.write(`simulate: ${m}\n`) : undefined;
    const raw = await simulate({
      dir,
      ...(values.base ? { base: values.base as string } : {}),
      head: values.head as string,
      ...(values.recordings ? { recordings: values.recordings as string } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(runs !== undefined ? { runs } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    const report = rebaseSimulate(raw, (f) => rebase(dir, f));
    const out = { text: simulateText, json, markdown: (r: SimulateReport) => `${r.safety ? safetyMarkdown(r.safety) : ''}${simulateMarkdown(r)}` }[format as (typeof formats)[number]];
    process.stdout.write(out(report));
    return report.passed ? 0 : 1;
  },
);
