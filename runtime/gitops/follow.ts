/**
 * Following a git branch: a local clone is fetched on a timer (and on demand); every new commit is
 * exported into its own immutable snapshot folder and loaded from there, so a half-finished fetch
 * or checkout is never what the gateway reads. Optionally only commits whose signature `git
 * verify-commit` accepts go live.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PortcullisError } from '../errors.ts';

const run = promisify(execFile);

export interface FollowOptions {
  url: string;
  branch: string;
  /** where the clone and the snapshots live */
  dir: string;
  requireSignedCommits?: boolean;
}

export interface Snapshot {
  commit: string;
  path: string;
}

async function git(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PortcullisError('unavailable', `git ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n').pop()}`, { cause: err });
  }
}

export class BranchFollower {
  private readonly clone: string;
  private current: string | undefined;
  /** the newest commit seen, live or rejected: it is not loaded again until the branch moves */
  private seen: string | undefined;

  constructor(private readonly opts: FollowOptions) {
    this.clone = join(opts.dir, 'clone.git');
  }

  get commit(): string | undefined {
    return this.current;
  }

  private async ensureClone(): Promise<void> {
    const exists = await stat(join(this.clone, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await mkdir(this.opts.dir, { recursive: true });
      await git(['clone', '--bare', '--quiet', '--single-branch', '--branch', this.opts.branch, this.opts.url, this.clone]);
    }
  }

  /**
   * Fetch; when the branch moved, export the new commit into a snapshot and return it. Returns
   * undefined when nothing changed. A commit that fails signature verification is an error and is
   * never exported.
   */
  async poll(): Promise<Snapshot | undefined> {
    await this.ensureClone();
    await git(['fetch', '--quiet', '--force', 'origin', `+refs/heads/${this.opts.branch}:refs/heads/${this.opts.branch}`], this.clone);
    const commit = await git(['rev-parse', `refs/heads/${this.opts.branch}`], this.clone);
    if (commit === this.seen) return undefined;
    this.seen = commit;
    if (this.opts.requireSignedCommits) {
      try {
        await git(['verify-commit', commit], this.clone);
      } catch (err) {
        throw new PortcullisError('permission_denied', `commit ${commit.slice(0, 7)} on ${this.opts.branch} is not signed by a trusted key, so it does not go live`, { cause: err });
      }
    }
    const path = join(this.opts.dir, 'snapshots', commit);
    const done = await stat(join(path, '.portcullis-snapshot')).then(
      () => true,
      () => false,
    );
    if (!done) {
      await rm(path, { recursive: true, force: true });
      await mkdir(path, { recursive: true });
      // git archive reads objects only: nothing in the clone changes, so a crash leaves no half state.
      await run('sh', ['-c', 'git -C "$1" archive --format=tar "$2" | tar -x -C "$3" && touch "$3/.portcullis-snapshot"', 'sh', this.clone, commit, path]).catch((err: unknown) => {
        throw new PortcullisError('unavailable', `cannot export commit ${commit.slice(0, 7)}: ${(err as Error).message}`, { cause: err });
      });
    }
    return { commit, path };
  }

  /** Mark a snapshot as the live one (after it loaded); older snapshots are pruned but the previous. */
  async accept(snapshot: Snapshot): Promise<void> {
    const previous = this.current;
    this.current = snapshot.commit;
    const dir = join(this.opts.dir, 'snapshots');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name !== snapshot.commit && name !== previous) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /** Poll again from scratch (SIGHUP): a rejected commit is retried, e.g. after a key was trusted. */
  forget(): void {
    this.seen = this.current;
  }
}
