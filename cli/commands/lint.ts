import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { lintRepo } from '../../runtime/lint/run.ts';
import { lintLiveCatalog } from '../../runtime/lint/live-catalog.ts';
import { rules, findRule } from '../../runtime/lint/catalogue.ts';
import { didYouMean } from '../../runtime/bundle/diagnostics.ts';
import type { LintReport } from '../../runtime/lint/types.ts';
import { lintText } from '../reporters/text.ts';
import { json } from '../reporters/json.ts';
import { lintSarif } from '../reporters/sarif.ts';
import { lintGithub } from '../reporters/github.ts';
import { lintMarkdown } from '../reporters/markdown.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

const formats = ['text', 'json', 'sarif', 'github', 'markdown'] as const;

export default defineCommand(
  {
    name: 'lint',
    summary: 'Validate a policy repo and flag unsafe rules.',
    usage: 'portcullis lint [DIR] [--format text|json|sarif|github|markdown] [--explain ID] [--rules] [--catalog postgres://... [--catalog-target NAME]]',
    positionals: true,
    options: {
      format: { type: 'string', short: 'f', default: 'text' },
      explain: { type: 'string' },
      rules: { type: 'boolean' },
      catalog: { type: 'string' },
      'catalog-target': { type: 'string' },
    },
    help: {
      format: `output format: ${formats.join(', ')} (default text)`,
      explain: 'print what a lint rule catches, why, and how to fix it',
      rules: 'list every lint rule',
      catalog: 'also check postgres targets against this live database (classifications naming no column, superuser roles)',
      'catalog-target': 'with --catalog: check only this target (default: every postgres target)',
    },
  },
  async ({ values, positionals }) => {
    if (values.explain !== undefined) {
      const rule = findRule(values.explain);
      if (!rule) {
        const guess = didYouMean(
          values.explain,
          rules.map((r) => r.id),
        );
        throw new PortcullisError('invalid_argument', `no lint rule '${values.explain}'`, { details: { hint: guess ? `did you mean '${guess}'?` : "list them with 'portcullis lint --rules'" } });
      }
      process.stdout.write(
        `${rule.id} (${rule.severity}): ${rule.title}\n\n${wrap(rule.explanation)}\n\nFix: ${wrap(rule.fix)}\n\nSilence one occurrence with a reason:\n  suppress: [{rule: ${rule.id}, reason: "..."}]\n`,
      );
      return 0;
    }
    if (values.rules) {
      const width = Math.max(...rules.map((r) => r.id.length));
      for (const r of rules) process.stdout.write(`${r.id.padEnd(width)}  ${r.severity.padEnd(7)}  ${r.title}\n`);
      return 0;
    }
    const format = values.format as string;
    if (!(formats as readonly string[]).includes(format)) throw new PortcullisError('invalid_argument', `unknown format '${format}'`, { details: { hint: `one of ${formats.join(', ')}` } });
    if (positionals.length > 1) throw new PortcullisError('invalid_argument', 'give at most one policy folder');
    const dir = policyDir(positionals[0]);
    const raw = await lintRepo(dir);
    if (values.catalog) {
      const live = await lintLiveCatalog(dir, values.catalog, values['catalog-target']);
      raw.findings.push(...live);
      for (const f of live) raw.counts[f.severity]++;
    }
    const report: LintReport = {
      ...raw,
      findings: raw.findings.map((f) => ({ ...f, file: rebase(dir, f.file) })),
      suppressed: raw.suppressed.map((f) => ({ ...f, file: rebase(dir, f.file) })),
    };
    const out = { text: lintText, json, sarif: (r: LintReport) => lintSarif(r, rules), github: lintGithub, markdown: lintMarkdown }[format as (typeof formats)[number]];
    process.stdout.write(out(report));
    return report.counts.error > 0 ? 1 : 0;
  },
);

function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}
