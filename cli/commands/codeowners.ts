import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { blockOwners, checkCodeowners, CODEOWNERS_PATHS, safetyPaths, writeSafetyBlock } from '../../runtime/safety/codeowners.ts';
import { repoLayout } from '../../runtime/simulate/git.ts';
import { policyDir } from '../reporters/paths.ts';

export default defineCommand(
  {
    name: 'codeowners',
    summary:
      'Write (or --check) the CODEOWNERS entries that give the policy safety configuration - repo config, invariants, policy tests, recordings, CODEOWNERS and workflows - to its designated owners.',
    usage: 'portcullis codeowners [DIR] [--owner @org/team ...] [--check]',
    positionals: true,
    options: {
      owner: { type: 'string', multiple: true },
      check: { type: 'boolean' },
    },
    help: {
      owner: 'an owner (@user or @org/team), repeatable; default: the owners already in the managed block',
      check: 'check instead of write: exit 1 when a safety file is not owned by the designated owners',
    },
  },
  async ({ values, positionals }) => {
    const dir = resolvePath(policyDir(positionals[0]));
    const bundle = await loadBundle(dir);
    const layout = repoLayout(dir) ?? { top: dir, prefix: '' };
    const found = CODEOWNERS_PATHS.find((p) => existsSync(join(layout.top, p)));
    const file = found ?? CODEOWNERS_PATHS[0];
    const path = join(layout.top, file);
    const existing = found ? readFileSync(path, 'utf8') : undefined;
    const paths = safetyPaths(bundle, layout.prefix, file);

    if (values.check) {
      const { owners, problems } = checkCodeowners(existing, paths);
      for (const p of problems) process.stdout.write(`${file}: ${p.message}\n`);
      if (problems.length) {
        process.stdout.write(`fix with: portcullis codeowners ${positionals[0] ?? ''}${owners.length ? '' : ' --owner @org/team'}`.trimEnd() + '\n');
        return 1;
      }
      process.stdout.write(`${file}: ${paths.length} safety paths owned by ${owners.join(' ')}\n`);
      return 0;
    }
    const owners = (values.owner as string[] | undefined) ?? (existing ? blockOwners(existing) : []);
    if (owners.length === 0) throw new PortcullisError('invalid_argument', 'no owners given and none in CODEOWNERS yet', { details: { hint: 'portcullis codeowners --owner @org/policy-owners' } });
    const bad = owners.find((o) => !/^@[A-Za-z0-9-]+(\/[A-Za-z0-9._-]+)?$/.test(o) && !/^[^@\s]+@[^@\s]+$/.test(o));
    if (bad) throw new PortcullisError('invalid_argument', `'${bad}' is not a GitHub owner`, { details: { hint: 'write @user, @org/team or an e-mail address' } });
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, writeSafetyBlock(existing, paths, owners));
    process.stdout.write(`wrote ${file}: ${paths.length} safety paths owned by ${owners.join(' ')}\n`);
    return 0;
  },
);
