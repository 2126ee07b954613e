import { afterEach, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startGatewayRuntime, type GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import { decide } from '../../runtime/engine/decide.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { readEvidence } from '../../runtime/evidence/reader.ts';
import { startGateway } from '../../runtime/gateway/start.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function effect(runtime: GatewayRuntime, sql: string) {
  const bundle = runtime.ctx.bundle()!;
  return decide(bundle, buildRequests(bundle, { as: 'support-agent', target: 'shop-db', sql })[0]!).effect;
}

const denyProducts = `    - id: no-products
      effect: deny
      actions: [select]
      resources: [products]
`;

async function evidenceTypes(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readEvidence(join(dataDir, 'evidence'))) out.push(r.type);
  return out;
}

describe('hot reload of a policy folder', () => {
  it('swaps in a valid change, keeps the last good bundle on a broken one, and records both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-reload-'));
    await cp('policies', join(dir, 'policies'), { recursive: true });
    const dataDir = join(dir, 'data');
    const runtime = await startGatewayRuntime({ policies: join(dir, 'policies'), dataDir, log: () => {} });
    open.push(runtime);
    const first = runtime.ctx.bundle()!.revision.digest;
    expect(effect(runtime, 'select * from products')).toBe('allow');

    await appendFile(join(dir, 'policies/policies/support.yaml'), denyProducts);
    await until('the new bundle', () => runtime.ctx.bundle()!.revision.digest !== first);
    expect(effect(runtime, 'select * from products')).toBe('deny');
    const good = runtime.ctx.bundle()!.revision.digest;

    const support = await readFile(join(dir, 'policies/policies/support.yaml'), 'utf8');
    await writeFile(join(dir, 'policies/policies/support.yaml'), support.replace('effect: deny', 'effect: perhaps'));
    await until('the rejection', () => runtime.status().reloads.rejected > 0);
    expect(runtime.ctx.bundle()!.revision.digest).toBe(good);
    expect(runtime.status()).toMatchObject({ ready: true, lastReload: { ok: false } });
    expect(runtime.status().lastReload!.errors![0]).toMatch(/support\.yaml:\d+:\d+: error \[schema\]/);
    expect(await evidenceTypes(dataDir)).toEqual(expect.arrayContaining(['bundle.loaded', 'bundle.rejected']));
  });

  it('is not ready without a valid bundle at start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-reload-'));
    await cp('policies', join(dir, 'policies'), { recursive: true });
    await writeFile(join(dir, 'policies/broken.yaml'), 'apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: {name: x}\n');
    const runtime = await startGatewayRuntime({ policies: join(dir, 'policies'), dataDir: join(dir, 'data'), log: () => {}, watch: false });
    open.push(runtime);
    expect(runtime.ctx.bundle()).toBeUndefined();
    expect(runtime.status()).toMatchObject({ ready: false, reason: 'no valid policy bundle is live' });
  });
});

describe('following a git branch', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

  it('loads each new commit of the branch and never a commit with a schema error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-follow-'));
    const bare = join(dir, 'policies.git');
    const work = join(dir, 'work');
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    git(dir, 'clone', '--quiet', bare, work);
    await cp('policies', work, { recursive: true });
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'initial policies');
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    const c1 = git(work, 'rev-parse', 'HEAD');

    // The whole gateway with only its admin listener: the operator's view of a rejected commit is checked below.
    const gw = await startGateway({ git: { url: bare, branch: 'main', pollMs: 200 }, dataDir: join(dir, 'data'), pgPort: 'off', httpPort: 'off', adminPort: 0 }, { log: () => {} });
    open.push({ close: () => gw.stop() });
    const runtime = gw.runtime;
    expect(runtime.ctx.bundle()!.revision).toMatchObject({ commit: c1, dirty: false });

    await appendFile(join(work, 'policies/support.yaml'), denyProducts);
    git(work, 'commit', '--quiet', '-am', 'deny products');
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    const c2 = git(work, 'rev-parse', 'HEAD');
    const started = Date.now();
    await until('commit 2 live', () => runtime.ctx.bundle()!.revision.commit === c2, 4000);
    expect(Date.now() - started).toBeLessThan(2200);
    expect(effect(runtime, 'select * from products')).toBe('deny');

    await writeFile(join(work, 'policies/support.yaml'), (await readFile(join(work, 'policies/support.yaml'), 'utf8')).replace('effect: deny', 'effect: perhaps'));
    git(work, 'commit', '--quiet', '-am', 'broken');
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    await until('the rejection', () => runtime.status().reloads.rejected > 0, 4000);
    expect(runtime.ctx.bundle()!.revision.commit).toBe(c2);
    expect(runtime.status().lastReload).toMatchObject({ ok: false, revision: git(work, 'rev-parse', '--short=7', 'HEAD') });

    // The operator sees it where operators look: /readyz (still serving the last good commit) and /metrics.
    const base = gw.adminUrl!.replace(/\/$/, '');
    const readyz = await fetch(`${base}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.text()).toMatch(new RegExp(`last reload rejected \\(commit ${git(work, 'rev-parse', '--short=7', 'HEAD')}\\): .*support\\.yaml`));
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/portcullis_bundle_reloads_total\{result="rejected"\} 1/);
  });
});
