/** The workflow `portcullis init --ci github` writes: its safety properties, read from the YAML itself. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { githubWorkflow } from '../../cli/ci-template.ts';
import { ownPackage } from '../../cli/commands/init.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: unknown;
  env: Record<string, string>;
  jobs: Record<string, { if: string; permissions: Record<string, string>; steps: Step[] }>;
}

const workflow = parse(githubWorkflow({ package: 'portcullis@9.9.9', policyDir: 'policies', branch: 'trunk' })) as Workflow;

describe('portcullis init --ci github', () => {
  it('pins every action by commit SHA and the CLI by exact version', () => {
    const uses = Object.values(workflow.jobs).flatMap((j) => j.steps.flatMap((s) => (s.uses ? [s.uses] : [])));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u).toMatch(/^[\w-]+\/[\w./-]+@[0-9a-f]{40}$/);
    expect(workflow.env).toEqual({ PORTCULLIS_PACKAGE: 'portcullis@9.9.9', POLICY_DIR: 'policies' });
    expect(ownPackage()).toMatch(/^portcullis@\d+\.\d+\.\d+$/);
  });

  it('reports on fork pull requests without running anything from them', () => {
    expect(Object.keys(workflow.on)).toEqual(['pull_request_target', 'push']);
    expect(workflow.permissions).toEqual({});
    const check = workflow.jobs.check!;
    expect(check.permissions).toEqual({ contents: 'read', 'pull-requests': 'write', checks: 'write' });
    // after the checkout of the PR head, only the pinned CLI runs; no npm install, script or action from it
    const at = check.steps.findIndex((s) => s.uses?.startsWith('actions/checkout@'));
    expect(check.steps[at]!.with).toMatchObject({ ref: '${{ github.event.pull_request.head.sha }}', 'persist-credentials': false });
    expect(check.steps.slice(0, at).every((s) => s.uses?.startsWith('actions/setup-node@') || s.run?.startsWith('npm install -g --ignore-scripts'))).toBe(true);
    for (const s of check.steps.slice(at + 1)) {
      expect(s.uses).toBeUndefined();
      expect(s.run).toMatch(/^portcullis (lint|ci github) /);
      // nothing the PR's author controls is pasted into a script
      expect(s.run).not.toMatch(/\$\{\{/);
    }
  });

  it('lints once per job: JSON for the check run on pull requests, SARIF for code scanning on pushes', () => {
    const lints = (job: string) => workflow.jobs[job]!.steps.filter((s) => s.run?.includes('portcullis lint'));
    expect(lints('check').map((s) => s.run)).toEqual([expect.stringContaining('--format json')]);
    expect(lints('code-scanning').map((s) => s.run)).toEqual([expect.stringContaining('--format sarif')]);
    expect(workflow.jobs.check!.steps.some((s) => s.run?.includes('--format github'))).toBe(false);
    expect(workflow.jobs['code-scanning']!.if).toBe("github.event_name == 'push'");
    expect(workflow.jobs['code-scanning']!.permissions).toEqual({ contents: 'read', 'security-events': 'write' });
    expect(workflow.on.push).toEqual({ branches: ['trunk'], paths: ['policies/**'] });
  });

  it("is the project's own .github/workflows/policy.yml (regenerate: node bin/portcullis.js init --ci github --policies policies --output .github/workflows/policy.yml --force)", async () => {
    const own = await readFile(join(root, '.github', 'workflows', 'policy.yml'), 'utf8');
    expect(own).toBe(githubWorkflow({ package: ownPackage(), policyDir: 'policies', branch: 'main' }));
  });

  it('writes the file once, picks the policy folder, and refuses to overwrite without --force', async () => {
    const repo = await mkdtemp(join(tmpdir(), 'pc-init-'));
    await writeFile(join(repo, 'portcullis.yaml'), 'apiVersion: portcullis.dev/v1\nkind: Repository\nmetadata: { name: x }\n');
    const cli = (...args: string[]) =>
      run(process.execPath, [join(root, 'bin', 'portcullis.js'), ...args], { cwd: repo }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    expect((await cli('init', '--ci', 'github')).stdout).toMatch(/^wrote \.github\/workflows\/portcullis\.yml/);
    expect(parse(await readFile(join(repo, '.github/workflows/portcullis.yml'), 'utf8')).env.POLICY_DIR).toBe('.');
    const again = await cli('init', '--ci', 'github');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists\n  hint: pass --force/);
    expect((await cli('init', '--ci', 'github', '--force')).code).toBe(0);
    const wrong = await cli('init', '--ci', 'gitlab');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/unknown CI system 'gitlab'/);
  }, 120_000);
});
