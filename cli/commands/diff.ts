import { defineCommand, requireString } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { permissionDiffOf } from '../../runtime/diff/load.ts';
import type { PermissionDiff } from '../../runtime/diff/permissions.ts';
import { json } from '../reporters/json.ts';
import { diffMarkdown, diffText } from '../reporters/simulate.ts';
import { policyDir, rebase } from '../reporters/paths.ts';

const formats = ['text', 'json', 'markdown'] as const;

export default defineCommand(
  {
    name: 'diff',
    summary: 'Compare the permissions of two revisions from the bundles alone: every identity x target x action x resource whose effect, masks or row limit widen or narrow.',
    usage: 'portcullis diff [DIR] --base REF [--head REF|worktree] [--format text|json|markdown]',
    positionals: true,
    options: {
      base: { type: 'string' },
      head: { type: 'string', default: 'worktree' },
      format: { type: 'string', short: 'f', default: 'text' },
    },
    help: {
      base: 'git ref of the revision to compare against (read from history; the work tree is not touched)',
      head: "git ref of the changed revision, or 'worktree' (default)",
      format: `output format: ${formats.join(', ')} (default text)`,
    },
  },
  async ({ values, positionals }) => {
    const format = values.format as string;
    if (!(formats as readonly string[]).includes(format)) throw new PortcullisError('invalid_argument', `unknown format '${format}'`, { details: { hint: `one of ${formats.join(', ')}` } });
    const base = requireString(values.base, 'base', 'diff');
    const dir = policyDir(positionals[0]);
    const raw = await permissionDiffOf(dir, base, values.head as string);
    const report: PermissionDiff = { ...raw, changes: raw.changes.map((c) => ({ ...c, file: rebase(dir, c.file) })) };
    const out = { text: diffText, json, markdown: (d: PermissionDiff) => diffMarkdown(d) }[format as (typeof formats)[number]];
    process.stdout.write(out(report));
    // Like lint: a widening is something to look at, so scripts can gate on it.
    return report.widened > 0 ? 1 : 0;
  },
);
