/**
 * `<dataDir>/github-cache.json`: commit → pull request answers already fetched. A commit that went
 * live is history; its PR and reviews do not change, so a second report asks GitHub nothing about
 * it. "No PR" is cached too (a direct push stays a direct push). Delete the file to refetch.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { PullRequestInfo } from './types.ts';

export const GITHUB_CACHE_FILE = 'github-cache.json';

export interface CacheEntry {
  fetchedAt: string;
  pullRequest: PullRequestInfo | null;
}

interface CacheShape {
  version: 1;
  /** keyed `owner/repo@sha`: one data dir may have followed more than one repository */
  entries: Record<string, CacheEntry>;
}

export class GithubCache {
  private dirty = false;

  private constructor(
    readonly path: string,
    private readonly shape: CacheShape,
  ) {}

  /** A missing or unreadable cache is an empty one: it only ever saves calls, never changes answers. */
  static async open(path: string): Promise<GithubCache> {
    try {
      const value = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheShape>;
      if (value && value.version === 1 && value.entries && typeof value.entries === 'object') {
        return new GithubCache(path, { version: 1, entries: value.entries });
      }
    } catch {
      // fall through: start afresh
    }
    return new GithubCache(path, { version: 1, entries: {} });
  }

  get(repository: string, sha: string): CacheEntry | undefined {
    return Object.hasOwn(this.shape.entries, `${repository}@${sha}`) ? this.shape.entries[`${repository}@${sha}`] : undefined;
  }

  set(repository: string, sha: string, entry: CacheEntry): void {
    this.shape.entries[`${repository}@${sha}`] = entry;
    this.dirty = true;
  }

  /** Written whole to a temporary file and renamed, so a crash never leaves half a cache. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(this.shape, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
    this.dirty = false;
  }
}
