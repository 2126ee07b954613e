/**
 * `npm ci` must not warn EBADENGINE on the Node the project supports: every package in the lock
 * file accepts the oldest Node that package.json's `engines` allows (and the one running the tests).
 * The ranges in the lock are the simple kind (`>=18`, `^20.19.0 || >=22.12.0`, `>= 10.x`), which
 * the small reader below understands; anything else fails the test rather than passing unread.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

type Version = [number, number, number];

function version(text: string): Version {
  const [a = 0, b = 0, c = 0] = text.replace(/^v/, '').split('.').map((p) => (p === 'x' || p === '*' ? 0 : Number(p)));
  if (![a, b, c].every(Number.isFinite)) throw new Error(`unreadable version '${text}'`);
  return [a, b, c];
}

function compare(x: Version, y: Version): number {
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    const parts = alternative.trim().replace(/(>=|<=|>|<|\^|~)\s+/g, '$1').split(/\s+/);
    return parts.every((p) => {
      const m = /^(>=|<=|>|<|\^|~)?(\d[\w.]*)$/.exec(p);
      if (!m) throw new Error(`unreadable engines range '${range}'`);
      const w = version(m[2]!);
      switch (m[1]) {
        case '>=': return compare(v, w) >= 0;
        case '>': return compare(v, w) > 0;
        case '<=': return compare(v, w) <= 0;
        case '<': return compare(v, w) < 0;
        case '^': return compare(v, w) >= 0 && v[0] === w[0];
        case '~': return compare(v, w) >= 0 && v[0] === w[0] && v[1] === w[1];
        default: return m[2]!.split('.').length === 1 ? v[0] === w[0] : compare(v, w) === 0;
      }
    });
  });
}

describe('engines', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
  const oldest = version(/^>=\s*([\d.]+)$/.exec(pkg.engines.node)?.[1] ?? 'unreadable');

  it('the reader reads ranges as npm does', () => {
    expect(satisfies(version('20.19.0'), '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies(version('20.18.9'), '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies(version('20.19.0'), '>=22')).toBe(false);
    expect(satisfies(version('20.19.0'), '>= 10.x')).toBe(true);
    expect(satisfies(version('20.19.0'), '^10 || ^12 || >=14')).toBe(true);
  });

  it('every locked package accepts the oldest supported Node and this one', () => {
    const refusing: string[] = [];
    for (const [path, p] of Object.entries(lock.packages)) {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (!range || path === '') continue;
      for (const v of [oldest, version(process.version)]) {
        if (!satisfies(v, range)) refusing.push(`${path}@${p.version} wants node ${range}, not ${v.join('.')}`);
      }
    }
    expect(refusing).toEqual([]);
  });
});
