import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { runPolicyTests } from '../../runtime/policytest/run.ts';
import type { TestReport } from '../../runtime/policytest/types.ts';
import { testText } from '../reporters/text.ts';
import { json } from '../reporters/json.ts';
import { testGithub } from '../reporters/github.ts';
import { testMarkdown } from '../reporters/markdown.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

const formats = ['text', 'json', 'github', 'markdown'] as const;

export default defineCommand(
  {
    name: 'test',
    summary: "Run the policy unit tests (PolicyTest documents) with the gateway's engine, and report rule coverage.",
    usage: 'portcullis test [DIR] [--format text|json|github|markdown] [--coverage-threshold N]',
    positionals: true,
    options: {
      format: { type: 'string', short: 'f', default: 'text' },
      'coverage-threshold': { type: 'string' },
    },
    help: {
      format: `output format: ${formats.join(', ')} (default text)`,
      'coverage-threshold': "fail when fewer than N% of rules are exercised (default: the repo's coverageThreshold)",
    },
  },
  async ({ values, positionals }) => {
    const format = values.format as string;
    if (!(formats as readonly string[]).includes(format)) throw new PortcullisError('invalid_argument', `unknown format '${format}'`, { details: { hint: `one of ${formats.join(', ')}` } });
    let threshold: number | undefined;
    if (values['coverage-threshold'] !== undefined) {
      threshold = Number(values['coverage-threshold']);
      if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) throw new PortcullisError('invalid_argument', '--coverage-threshold must be a number from 0 to 100');
    }
    const dir = policyDir(positionals[0]);
    const bundle = await loadBundle(dir);
    const raw = runPolicyTests(bundle, threshold !== undefined ? { threshold } : {});
    const report: TestReport = {
      ...raw,
      cases: raw.cases.map((c) => ({ ...c, file: rebase(dir, c.file) })),
      coverage: { ...raw.coverage, uncovered: raw.coverage.uncovered.map((u) => ({ ...u, file: rebase(dir, u.file) })) },
    };
    const out = { text: testText, json, github: testGithub, markdown: testMarkdown }[format as (typeof formats)[number]];
    process.stdout.write(out(report));
    return report.failed > 0 || report.belowThreshold ? 1 : 0;
  },
);
