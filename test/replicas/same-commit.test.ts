/**
 * Replicas following one branch load the same commits, and the shared chain says so: each
 * replica's `bundle.loaded` records name the commit, stamped with the replica that loaded it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayRuntime, type GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import { readPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { createStateDatabase, type StateDatabase } from './state-db.ts';

const runtimes: GatewayRuntime[] = [];
let state: StateDatabase | undefined;
let dir: string | undefined;
afterAll(async () => {
  await Promise.allSettled(runtimes.map((r) => r.close()));
  await state?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

describe('replicas following one branch', () => {
  it('go live on the same commit, and the shared chain records each replica loading it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-same-commit-'));
    state = await createStateDatabase();
    const bare = join(dir, 'policies.git');
    const work = join(dir, 'work');
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    git(dir, 'clone', '--quiet', bare, work);
    await cp('policies', work, { recursive: true });
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'initial');
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');

    for (const name of ['r1', 'r2']) {
      // Separate data dirs: each replica keeps its own clone and snapshots.
      runtimes.push(
        await startGatewayRuntime({
          policies: '.',
          git: { url: bare, branch: 'main', pollMs: 200 },
          dataDir: join(dir, name),
          state: { postgres: state.url, replica: name },
          log: () => {},
        }),
      );
    }
    await appendFile(join(work, 'policies/support.yaml'), '    - id: no-products\n      effect: deny\n      actions: [select]\n      resources: [products]\n');
    git(work, 'commit', '--quiet', '-am', 'deny products');
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    const c2 = git(work, 'rev-parse', 'HEAD');
    await expect.poll(() => runtimes.map((r) => r.ctx.bundle()?.revision.commit), { timeout: 5000 }).toEqual([c2, c2]);
    expect(runtimes.map((r) => r.status().revision)).toEqual([c2.slice(0, 7), c2.slice(0, 7)]);

    const loaded: { replica: string; commit: string }[] = [];
    for await (const r of readPostgresEvidence(state.url, { types: ['bundle.loaded'] })) {
      loaded.push({ replica: r.replica, commit: (r.data as { revision: { commit: string } }).revision.commit });
    }
    expect(
      loaded
        .filter((l) => l.commit === c2)
        .map((l) => l.replica)
        .sort(),
    ).toEqual(['r1', 'r2']);
  });
});
