/**
 * Bundle history says what changed: each `bundle.loaded` record carries the rules and documents a
 * reload added, removed or changed, the commit's subject and the pull request that merged it, and
 * the console shows them (test/console). Here with a real git repo and the real runtime reload.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayRuntime, type GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import { readEvidence } from '../../runtime/evidence/index.ts';

let dir: string;
let runtime: GatewayRuntime;

const git = (...args: string[]) => execFileSync('git', args, { cwd: join(dir, 'policies'), stdio: ['ignore', 'pipe', 'pipe'] }).toString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-changes-'));
  await cp('policies', join(dir, 'policies'), { recursive: true });
  git('init', '-q');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'Merge pull request #7 from acme/first');
  git('remote', 'add', 'origin', 'git@github.com:acme/policies.git');
  runtime = await startGatewayRuntime({ policies: join(dir, 'policies'), dataDir: join(dir, 'data'), watch: false, log: () => {} });
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  await rm(dir, { recursive: true, force: true });
});

async function loaded() {
  const out: any[] = [];
  for await (const r of readEvidence(join(dir, 'data', 'evidence'), { types: ['bundle.loaded'] })) out.push(r.data);
  return out;
}

describe('bundle history', () => {
  it('records what a reload changed and the pull request that brought it', async () => {
    const [first] = await loaded();
    expect(first.pullRequest).toEqual({ number: 7, url: 'https://github.com/acme/policies/pull/7' });
    expect(first.changes.rules.added).toContain('support-read/read-shop');

    const file = join(dir, 'policies', 'policies', 'support.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8'))
        .replace('maxRows: 1000', 'maxRows: 50')
        .replace('    - id: no-writes', '    - id: no-copies\n      effect: deny\n      actions: [copy]\n      resources: ["*"]\n    - id: no-writes'),
    );
    await rm(join(dir, 'policies', 'tests'), { recursive: true });
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qam', 'Support reads at most 50 rows (#8)');
    expect((await runtime.reload()).ok).toBe(true);
    const second = (await loaded()).at(-1);
    expect(second.subject).toBe('Support reads at most 50 rows (#8)');
    expect(second.pullRequest).toEqual({ number: 8, url: 'https://github.com/acme/policies/pull/8' });
    expect(second.changes.rules).toEqual({ added: ['support-read/no-copies'], removed: [], changed: ['support-read/read-shop'] });
    expect(second.changes.documents.removed).toContain('PolicyTest/shop-db');
  });
});
