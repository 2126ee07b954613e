/**
 * `portcullis init --ci github`: write the policy check workflow into a standalone policy repo. The
 * workflow installs exactly the CLI version that wrote it, so CI judges with the rules the author
 * linted with locally.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { githubWorkflow } from '../ci-template.ts';

export const WORKFLOW_PATH = '.github/workflows/portcullis.yml';

export function ownPackage(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name}@${pkg.version}`;
}

export default defineCommand(
  {
    name: 'init',
    summary: 'Set up a policy repo: --ci github writes the GitHub Actions workflow that checks its pull requests.',
    usage: 'portcullis init --ci github [REPO] [--policies DIR] [--branch main] [--package SPEC] [--output FILE] [--force]',
    positionals: true,
    options: {
      ci: { type: 'string' },
      policies: { type: 'string' },
      branch: { type: 'string', default: 'main' },
      package: { type: 'string' },
      output: { type: 'string' },
      force: { type: 'boolean' },
    },
    help: {
      ci: 'the CI system to write a workflow for: github',
      policies: 'folder of portcullis.yaml inside the repo (default: the repo root if it has one, else policies)',
      branch: 'the default branch; pushes to it upload SARIF to code scanning (default main)',
      package: `what the workflow installs with npm install -g (default ${ownPackage()}, this CLI's exact version)`,
      output: `where to write the workflow, relative to the repo (default ${WORKFLOW_PATH})`,
      force: 'overwrite an existing workflow file',
    },
  },
  async ({ values, positionals }) => {
    if (values.ci !== 'github') {
      throw new PortcullisError('invalid_argument', values.ci === undefined ? 'init needs --ci' : `unknown CI system '${values.ci}'`, { details: { hint: 'portcullis init --ci github' } });
    }
    if (positionals.length > 1) throw new PortcullisError('invalid_argument', 'give at most one repo folder');
    const repo = resolve(positionals[0] ?? '.');
    const policies = values.policies ?? (existsSync(join(repo, 'portcullis.yaml')) || existsSync(join(repo, 'portcullis.yml')) || !existsSync(join(repo, 'policies')) ? '.' : 'policies');
    if (relative(repo, resolve(repo, policies)).startsWith('..')) throw new PortcullisError('invalid_argument', `--policies ${policies} is outside the repo`);
    const path = resolve(repo, values.output ?? WORKFLOW_PATH);
    if (existsSync(path) && !values.force) {
      throw new PortcullisError('failed_precondition', `${relative(process.cwd(), path) || path} already exists`, { details: { hint: 'pass --force to overwrite it' } });
    }
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, githubWorkflow({ package: values.package ?? ownPackage(), policyDir: policies, branch: values.branch as string }));
    process.stdout.write(`wrote ${relative(process.cwd(), path) || path}: pull requests get a comment and a check run; pushes to ${values.branch} upload SARIF\n`);
    return 0;
  },
);
