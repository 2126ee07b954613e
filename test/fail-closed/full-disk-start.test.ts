/**
 * A gateway whose evidence cannot be written when it starts (the disk is full) exits with a clear
 * error instead of running without a usable store. /dev/full stands in for the full disk: every
 * write to it fails with ENOSPC, for root too.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startTsx } from '../harness/processes.ts';
import { harnessBackend, policyRepo } from './fixture.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test.skipIf(!existsSync('/dev/full'))(
  'evidence unwritable at start (disk full): the gateway exits with a clear error',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-full-disk-'));
    dirs.push(dir);
    const repo = await policyRepo(dir, harnessBackend());
    const dataDir = join(dir, 'data');
    await mkdir(join(dataDir, 'evidence'), { recursive: true });
    await symlink('/dev/full', join(dataDir, 'evidence', 'evidence.jsonl'));
    const gw = await startTsx('cli/portcullis.ts', ['gateway', '--policies', repo, '--no-watch', '--data-dir', dataDir, '--pg-port', '0', '--http-port', 'off', '--admin-port', 'off']);
    const code = await Promise.race([gw.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    expect(code, gw.stderr()).toBe(1);
    expect(gw.stderr()).toMatch(/portcullis: the evidence store cannot be written at start/);
    expect(gw.stderr()).toMatch(/hint: /);
    expect(gw.stderr()).not.toMatch(/gateway ready/);
  },
  90_000,
);
