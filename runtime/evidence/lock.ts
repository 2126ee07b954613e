/**
 * One writer per evidence directory: two gateways appending to the same log would fork the hash
 * chain. The lock is a file holding the owner's pid, created exclusively; a lock whose process is
 * gone (a crash) is taken over. Host-local only: a directory shared over a network filesystem
 * between hosts needs the PostgreSQL-backed store instead.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PortcullisError } from '../errors.ts';

export const LOCK_FILE = 'evidence.lock';

/** Directories locked by stores of this process (the pid alone cannot tell them apart). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const token = randomUUID();
  if (held.has(path)) throw busy(path, process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid} ${token}\n`);
      await fh.close();
      held.add(path);
      return async () => {
        held.delete(path);
        const current = await readFile(path, 'utf8').catch(() => '');
        if (current.includes(token)) await unlink(path).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).split(' ')[0] ?? '', 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw busy(path, pid);
      // the owner crashed (or wrote nothing before dying): take the lock over
      await unlink(path).catch(() => undefined);
    }
  }
  throw busy(path, undefined);
}

function busy(path: string, pid: number | undefined): PortcullisError {
  return new PortcullisError('failed_precondition', `evidence store is not writable: another writer${pid ? ` (pid ${pid})` : ''} holds ${path}`, {
    details: { hint: 'run one gateway per data directory, or stop the other one', lockedBy: pid ?? 'unknown' },
  });
}
