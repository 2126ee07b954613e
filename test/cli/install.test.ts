/**
 * The CLI as a policy repo meets it, with one install for the whole file (the slow part):
 * `npm pack`, then the `run:` steps of the workflow `portcullis init --ci github` writes, executed in
 * a standalone policy repo (no package.json, no tsx) against a local stand-in for the GitHub API.
 * The workflow's own install step does the `npm install -g` of the tarball, into a temporary prefix;
 * the installed `portcullis` is then used from the repo's folder like a user would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
}
interface Seen {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

let dir: string;
let repo: string;
let prefix: string;
let bin: string;
let workflow: Workflow;
let api: Server;
let apiUrl: string;
const seen: Seen[] = [];

const git = (cwd: string, ...args: string[]) =>
  run('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).then((r) => r.stdout.trim());

/** The values of the few expressions the template uses, as Actions would give them for PR #7. */
function expand(text: string, headSha: string): string {
  const values: Record<string, string> = {
    'secrets.GITHUB_TOKEN': 'test-token',
    'vars.PORTCULLIS_RECORDINGS': '',
    'secrets.PORTCULLIS_RECORDINGS_TOKEN': '',
    'github.base_ref': 'main',
    'github.event.pull_request.head.sha': headSha,
    'runner.temp': join(dir, 'runner-temp'),
  };
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    const v = values[expr];
    if (v === undefined) throw new Error(`the test does not know the expression \${{ ${expr} }}`);
    return v;
  });
}

/** One `run:` step as the runner does it: bash -e, the workflow's and the step's env, the runner's variables. */
async function runStep(step: Step, headSha: string, extra: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GITHUB_') || k.startsWith('npm_')) delete env[k];
  Object.assign(env, workflow.env, ...Object.entries(step.env ?? {}).map(([k, v]) => ({ [k]: expand(v, headSha) })), {
    GITHUB_REPOSITORY: 'acme/policies',
    GITHUB_EVENT_PATH: join(dir, 'event.json'),
    GITHUB_API_URL: apiUrl,
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    GITHUB_RUN_ID: '4242',
    RUNNER_TEMP: join(dir, 'runner-temp'),
    CI: 'true',
    // `npm install -g` lands in the temporary prefix, whose bin/ is on PATH, like the runner's global one.
    npm_config_prefix: prefix,
    PATH: `${join(prefix, 'bin')}${delimiter}${process.env.PATH}`,
    ...extra,
  });
  const script = expand(step.run!, headSha);
  return run('bash', ['-e', '-c', script], { cwd: repo, env, timeout: 540_000, maxBuffer: 64 * 1024 * 1024 }).then(
    (ok) => ({ code: 0, ...ok }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-install-'));
  prefix = join(dir, 'prefix');
  bin = join(prefix, 'bin', 'portcullis');
  await mkdir(join(dir, 'runner-temp'));
  await run('npm', ['pack', '--pack-destination', dir], { cwd: root, timeout: 120_000 });
  const tarball = join(dir, (await readdir(dir)).find((f) => f.endsWith('.tgz'))!);

  api = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, ...(raw ? { body: JSON.parse(raw) } : {}) });
      const status = req.method === 'POST' ? 201 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(req.method === 'GET' ? '[]' : JSON.stringify({ id: 555 }));
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  // A standalone policy repo: the example's files at its root, a main branch on an origin, and a
  // pull request that lets an agent delete orders without review.
  repo = join(dir, 'policy-repo');
  await cp(join(root, 'policies'), repo, { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'policies');
  await git(dir, 'clone', '-q', '--bare', repo, 'origin.git');
  await git(repo, 'remote', 'add', 'origin', join(dir, 'origin.git'));
  await git(repo, 'fetch', '-q', 'origin');
  await git(repo, 'checkout', '-q', '-b', 'pr');
  const data = join(repo, 'policies', 'data.yaml');
  await writeFile(data, (await readFile(data, 'utf8')).replace('      effect: review\n      actions: [delete]', '      effect: allow\n      actions: [delete]'));
  await git(repo, 'commit', '-qam', 'let the data agent delete orders');

  // The workflow, written by the project's CLI as a user would (pointing at the packed tarball).
  await run(process.execPath, [join(root, 'bin', 'portcullis.js'), 'init', '--ci', 'github', '--package', tarball], { cwd: repo, timeout: 120_000 });
  workflow = parse(await readFile(join(repo, '.github', 'workflows', 'portcullis.yml'), 'utf8')) as Workflow;
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-qm', 'ci');
  const headSha = await git(repo, 'rev-parse', 'HEAD');
  await writeFile(join(dir, 'event.json'), JSON.stringify({ action: 'synchronize', pull_request: { number: 7, head: { sha: headSha }, base: { ref: 'main' } } }));

  const install = workflow.jobs.check!.steps.find((s) => s.run?.includes('npm install -g'))!;
  const installed = await runStep(install, headSha);
  if (installed.code !== 0) throw new Error(`the workflow's install step failed:\n${installed.stderr}`);
}, 600_000);

afterAll(async () => {
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the workflow init writes, run in a standalone policy repo', () => {
  it('lints once, reports the unsafe pull request with one annotation per finding, writes the job summary, fails the job', async () => {
    const headSha = await git(repo, 'rev-parse', 'HEAD');
    const steps = workflow.jobs.check!.steps;
    // the checkout is of the PR head, without credentials; the test's repo is that checkout
    const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'))!;
    expect(checkout.with).toMatchObject({ ref: '${{ github.event.pull_request.head.sha }}', 'fetch-depth': 0, 'persist-credentials': false });

    const outcomes: { name: string; code: number; stderr: string }[] = [];
    for (const step of steps) {
      if (!step.run || step.run.includes('npm install -g')) continue; // installed once, in beforeAll
      const r = await runStep(step, headSha);
      outcomes.push({ name: step.name ?? step.run, code: r.code, stderr: r.stderr });
    }
    expect(
      outcomes.map((o) => [o.name, o.code]),
      outcomes.map((o) => o.stderr).join('\n'),
    ).toEqual([
      ['lint', 0], // lint found errors, and its JSON is there for the report
      ['report to the pull request', 1], // the job fails: the change is unsafe
    ]);
    expect(outcomes[1]!.stderr).not.toMatch(/\n\s+at /);

    expect(
      seen.map((s) => `${s.method} ${s.path}`),
      outcomes[1]!.stderr,
    ).toContain('POST /repos/acme/policies/issues/7/comments');
    const comment = seen.find((s) => s.method === 'POST' && s.path === '/repos/acme/policies/issues/7/comments');
    expect(String(comment?.body?.body)).toMatch(/Portcullis policy check ❌/);
    const runs = seen.filter((s) => s.path.startsWith('/repos/acme/policies/check-runs'));
    expect(runs[0]!.body).toMatchObject({ head_sha: headSha });
    expect(runs.at(-1)!.body).toMatchObject({ conclusion: 'failure' });
    const annotations = runs.flatMap((s) => (s.body?.output as { annotations?: { path: string; start_line: number; message: string }[] })?.annotations ?? []);
    expect(annotations.some((a) => a.path === 'policies/data.yaml')).toBe(true);
    const keys = annotations.map((a) => `${a.path}:${a.start_line}:${a.message}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(await readFile(join(dir, 'summary.md'), 'utf8')).toMatch(/## Portcullis policy check ❌/);
  }, 300_000);

  it('on a push, lint writes SARIF for code scanning', async () => {
    const lint = workflow.jobs['code-scanning']!.steps.find((s) => s.run?.includes('portcullis lint'))!;
    const r = await runStep(lint, 'unused');
    expect(r.code).toBe(0);
    const sarif = JSON.parse(await readFile(join(dir, 'runner-temp', 'portcullis.sarif'), 'utf8')) as { version: string; runs: { results: unknown[] }[] };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.results.length).toBeGreaterThan(0);
  }, 300_000);
});

describe('the installed CLI', () => {
  it('lints a standalone policy repo from its own folder (no package.json, no tsx)', async () => {
    const scratch = join(dir, 'scratch');
    for (const entry of ['portcullis.yaml', 'targets', 'identities', 'policies', 'invariants']) await cp(join(root, 'policies', entry), join(scratch, entry), { recursive: true });
    const ok = await run(bin, ['lint'], { cwd: scratch, timeout: 120_000 });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/files linted in \d+ ms: 0 errors/);
  }, 180_000);

  it('stops quietly when its reader goes away (lint --rules | head -3)', async () => {
    // The reader closes before the command writes a byte, so every write meets EPIPE.
    const child = spawn(bin, ['lint', '--rules'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 180_000);
});
