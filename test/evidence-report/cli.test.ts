/**
 * `portcullis evidence report` end to end: flags, JSON on stdout and nothing else, the HTML file an
 * auditor opens offline (checked to be self-contained and to name commits, PRs and reviewers), and
 * the errors a user sees.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSince, runEvidenceReport } from '../../cli/evidence-report.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import type { EvidenceReport } from '../../runtime/evidence-report/index.ts';
import { buildFixture, COMMIT_A, COMMIT_B, type EvidenceFixture } from './fixture.ts';
import { startGithubServer, type GithubServer } from './github-server.ts';

let f: EvidenceFixture;
let gh: GithubServer;

beforeAll(async () => {
  [f, gh] = await Promise.all([buildFixture(), startGithubServer()]);
});
afterAll(async () => {
  await Promise.all([f?.close(), gh?.close()]);
});

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runEvidenceReport(argv, { env, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const github = () => ({ GITHUB_TOKEN: 'tok', GITHUB_REPOSITORY: 'acme/policies', GITHUB_API_URL: gh.url });

/** Every tag's attributes, enough to check what the document would fetch. */
function attributes(html: string): { tag: string; name: string; value: string }[] {
  const out: { tag: string; name: string; value: string }[] = [];
  for (const tag of html.matchAll(/<([a-zA-Z][\w-]*)([^>]*)>/g)) {
    for (const attr of tag[2]!.matchAll(/([\w:-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
      out.push({ tag: tag[1]!.toLowerCase(), name: attr[1]!.toLowerCase(), value: attr[3] ?? attr[4] ?? attr[5] ?? '' });
    }
  }
  return out;
}

describe('portcullis evidence report', () => {
  it('writes JSON to stdout and nothing else', async () => {
    const { code, stdout, stderr } = await run(['--data-dir', f.dataDir]);
    expect(code).toBe(0);
    // no key is pinned in the example repo: said on stderr, never mixed into the JSON
    expect(stderr).toMatch(/^portcullis: the evidence is not verified: no evidence verification key is pinned[^\n]*\n$/);
    const report = JSON.parse(stdout) as EvidenceReport;
    expect(report.commits.map((c) => c.key)).toEqual([COMMIT_A, COMMIT_B]);
    expect(report.github.configured).toBe(false);
  });

  it('writes a self-contained HTML report naming commits, pull requests and reviewers', async () => {
    const out = join(f.dataDir, 'report.html');
    const { code, stdout, stderr } = await run(['--data-dir', f.dataDir, '--out', out], github());
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/wrote HTML report for 2 policy commit\(s\) to/);
    const html = await readFile(out, 'utf8');

    expect(html.startsWith('<!doctype html>')).toBe(true);
    const attrs = attributes(html);
    const fetching = attrs.filter((a) => ['src', 'href', 'srcset', 'action', 'data', 'poster', 'xlink:href'].includes(a.name));
    expect(fetching).toEqual([]);
    expect(html).not.toMatch(/<(script|link|iframe|img|object|embed)\b/i);
    expect(html).not.toMatch(/url\(/i);
    expect(attrs).toContainEqual({ tag: 'meta', name: 'content', value: "default-src 'none'; style-src 'unsafe-inline'" });
    // balanced sections and two inline charts
    expect(html.match(/<section\b/g)?.length).toBe(2);
    expect(html.match(/<\/section>/g)?.length).toBe(2);
    expect(html.match(/<svg\b/g)?.length).toBe(2);
    expect(html.match(/<\/svg>/g)?.length).toBe(2);

    for (const text of [COMMIT_A, COMMIT_B, '#12', '#15', 'Data agent deletes need a DBA', 'erin', 'frank', 'https://github.com/acme/policies/pull/12', 'support-read/no-writes', 'use the vault']) {
      expect(html).toContain(text);
    }
    expect(html).toMatch(/erin: approved/);
    // chart bars carry their numbers for readers and screen readers
    expect(html).toContain(`<title>${COMMIT_A.slice(0, 7)}: 3 allow</title>`);
    expect(html).toContain('still live at the end of the log');
  });

  it('escapes what came from the log', async () => {
    const { renderHtml } = await import('../../runtime/evidence-report/html.ts');
    const { buildEvidenceReport } = await import('../../runtime/evidence-report/build.ts');
    const report = await buildEvidenceReport({ dataDir: f.dataDir });
    report.commits[0]!.denials.shown[0]!.request = '<img src=https://evil.example/x>';
    const html = renderHtml(report);
    expect(html).toContain('&lt;img src=https://evil.example/x&gt;');
    expect(html).not.toContain('<img');
  });

  it('--format html to stdout, --commit and --since filter', async () => {
    const html = await run(['--data-dir', f.dataDir, '--format', 'html', '--commit', COMMIT_A.slice(0, 8)]);
    expect(html.stdout).toContain(COMMIT_A);
    expect(html.stdout).not.toContain(COMMIT_B);
    expect(html.stdout).toContain('GitHub is not configured');
    const json = JSON.parse((await run(['--data-dir', f.dataDir, '--since', f.restartAt])).stdout) as EvidenceReport;
    expect(json.filter).toEqual({ since: f.restartAt });
    expect(json.totals.decisions).toBe(1);
  });

  it('reports bad flags as invalid_argument and unknown commits as not_found', async () => {
    const code = async (argv: string[]) => {
      const err = await run(argv).catch((e: unknown) => e);
      return PortcullisError.is(err) ? err.code : err;
    };
    expect(await code(['--data-dir', f.dataDir, '--format', 'pdf'])).toBe('invalid_argument');
    expect(await code(['--data-dir', f.dataDir, '--since', 'last tuesday'])).toBe('invalid_argument');
    expect(await code(['--data-dir', f.dataDir, '--bogus'])).toBe('invalid_argument');
    expect(await code(['--data-dir', f.dataDir, '--commit', 'ffffffff'])).toBe('not_found');
    expect(await code(['--data-dir', join(f.dataDir, 'missing')])).toBe('not_found');
    expect((await run(['--data-dir', f.dataDir, '--help'])).code).toBe(0);
  });

  it('a bare --since date is midnight UTC', () => {
    expect(parseSince('2030-01-31').toISOString()).toBe('2030-01-31T00:00:00.000Z');
    expect(parseSince('2030-01-31T12:30:00+02:00').toISOString()).toBe('2030-01-31T10:30:00.000Z');
  });
});
