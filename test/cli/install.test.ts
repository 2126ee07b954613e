/**
 * The CLI as a user installs it: `npm pack`, `npm install -g` of the tarball (into a temporary
 * prefix), then `portcullis` in a standalone policy repo that has no package.json and no tsx.
 * One install for the whole file: it is the slow part.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let bin: string;
let repo: string;

async function portcullis(args: string[], cwd = repo): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(bin, args, { cwd, timeout: 120_000 }).then(
    (ok) => ({ code: 0, ...ok }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-install-'));
  await run('npm', ['pack', '--pack-destination', dir], { cwd: root, timeout: 120_000 });
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'))!;
  const prefix = join(dir, 'prefix');
  // --prefer-offline: the packages this checkout already installed come from npm's cache.
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: dir, timeout: 540_000 });
  bin = join(prefix, 'bin', 'portcullis');
  // A standalone policy repo: the example's files and nothing else (no package.json, no node_modules).
  repo = join(dir, 'policy-repo');
  await mkdir(repo);
  for (const entry of ['portcullis.yaml', 'targets', 'identities', 'policies', 'invariants', 'tests']) {
    await cp(join(root, 'policies', entry), join(repo, entry), { recursive: true }).catch(() => {});
  }
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the installed CLI', () => {
  it('lints a standalone policy repo from its own folder', async () => {
    const ok = await portcullis(['lint']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/files linted in \d+ ms: 0 errors/);

    await writeFile(join(repo, 'policies', 'open.yaml'), `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: open }
spec:
  subjects: [{ identity: data-agent }]
  targets: [shop-db]
  rules:
    - { id: all, effect: allow, actions: ["*"], resources: ["*"] }
`);
    const bad = await portcullis(['lint', '--format', 'github']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^::error file=policies\/open\.yaml,line=\d+,col=\d+/m);
    await rm(join(repo, 'policies', 'open.yaml'));
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
