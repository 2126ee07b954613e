/**
 * `npm ci` must not warn EBADENGINE on the Node the project supports: every package in the lock
 * file accepts the oldest Node that package.json's `engines` allows (and the one running the tests).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import semver from 'semver';

/** npm's own range semantics (the `semver` package npm uses), so no range in the lock goes unread. */
function satisfies(v: string, range: string): boolean {
  return semver.satisfies(v, range);
}

describe('engines', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
  const oldest = semver.minVersion(pkg.engines.node)?.version ?? 'unreadable';

  it('every locked package accepts the oldest supported Node and this one', () => {
    const refusing: string[] = [];
    for (const [path, p] of Object.entries(lock.packages)) {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (!range || path === '') continue;
      for (const v of [oldest, process.version.slice(1)]) {
        if (!satisfies(v, range)) refusing.push(`${path}@${p.version} wants node ${range}, not ${v}`);
      }
    }
    expect(refusing).toEqual([]);
  });
});
