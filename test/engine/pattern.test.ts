/** Policy patterns run on RE2: linear time on any input, RE2 syntax, and one compile function for all. */
import { describe, expect, it } from 'vitest';
import { columnPatternCovers, compileColumnPattern, compileGlob, compileNamePatterns, compilePattern, compileRepositoryPathPattern, patternProblem } from '../../runtime/engine/pattern.ts';
import { compileMatcher } from '../../runtime/engine/match.ts';
import { decide } from '../../runtime/engine/decide.ts';
import { compileBundle } from '../../runtime/bundle/load.ts';
import { bundleOf, dbTarget, identities, pg, policy } from './helpers.ts';

const redos = '^(\\d|\\d\\d)+$';

describe('policy patterns', () => {
  it('decide answers the ReDoS pattern on 42 digits (and far longer input) correctly', () => {
    // On V8's backtracking engine the near-miss below took 79 s; RE2 answers in linear time.
    const b = bundleOf({
      't.yaml': dbTarget,
      'i.yaml': identities,
      'p.yaml': policy('p', `    - { id: ids, effect: allow, actions: [select], resources: [orders], when: { statementPattern: "${redos.replace(/\\/g, '\\\\')}" } }\n`),
    });
    const digits = '1'.repeat(42);
    expect(decide(b, pg('bot', ['agents'], 'select', [{ name: 'orders' }], { text: digits })).effect).toBe('allow');
    expect(decide(b, pg('bot', ['agents'], 'select', [{ name: 'orders' }], { text: `${digits}x` })).effect).toBe('deny');
    expect(decide(b, pg('bot', ['agents'], 'select', [{ name: 'orders' }], { text: `${'9'.repeat(100_000)}x` })).effect).toBe('deny');
  });

  it('matches like RegExp#test for RE2-compatible patterns', () => {
    const cases: [string, string, boolean][] = [
      ['^select ', 'select * from t', true],
      ['^select ', ' select', false],
      ['orders', 'select * from orders where id = 1', true],
      ['^/api/v[12]/', '/api/v2/items', true],
      ['^\\d+$', '123\n', false],
      ['(?i)^SELECT', 'select 1', true],
      ['^[\\w.-]+@example\\.com$', 'a.b@example.com', true],
    ];
    for (const [source, text, want] of cases) expect(compilePattern(source).test(text), `${source} on ${JSON.stringify(text)}`).toBe(want);
  });

  it('explains what RE2 does not support', () => {
    expect(patternProblem('^(\\w+) \\1$')).toMatch(/backreference/);
    expect(patternProblem('(?<n>a)\\k<n>')).toMatch(/backreference/);
    expect(patternProblem('^(?!drop)')).toMatch(/lookaround/);
    expect(patternProblem('(?<=a)b')).toMatch(/lookaround/);
    expect(patternProblem('(?>a+)b')).toMatch(/atomic group/);
    expect(patternProblem('a++')).toMatch(/possessive/);
    expect(patternProblem('\\u0041')).toMatch(/\\x\{41\}/);
    expect(patternProblem('(a')).toMatch(/not a valid RE2 pattern: missing closing \)/);
    expect(patternProblem(redos)).toBeUndefined();
    expect(() => compilePattern('(?=x)')).toThrow(/lookaround/);
  });

  it('the loader refuses a pattern RE2 does not support, naming the rule and the construct', () => {
    const r = compileBundle('/repo', [
      { path: 't.yaml', text: dbTarget },
      { path: 'i.yaml', text: identities },
      { path: 'p.yaml', text: policy('p', `    - { id: same, effect: allow, actions: [select], resources: [orders], when: { statementPattern: "^select (\\\\w+) from \\\\1$" } }\n`) },
    ]);
    expect(r.bundle).toBeUndefined();
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'regex', file: 'p.yaml', message: expect.stringMatching(/^rule 'same': .* backreference/) })]);
  });

  it('globs keep their meaning: relation, HTTP and plain', () => {
    const rel = compileMatcher(['public.orders_*', 'audit.*'], 'postgres');
    expect(rel.test('public.orders_2026')).toBe(true);
    expect(rel.test('public.orders_2026.x')).toBe(false);
    expect(rel.test('audit.log')).toBe(true);
    expect(rel.test('public.customers')).toBe(false);
    const http = compileMatcher(['/invoices/**', '/customers/*', '/a/**/b'], 'http');
    expect(http.test('/invoices')).toBe(true);
    expect(http.test('/invoices/1/lines')).toBe(true);
    expect(http.test('/invoicesX')).toBe(false);
    expect(http.test('/customers/7')).toBe(true);
    expect(http.test('/customers/7/notes')).toBe(false);
    expect(http.test('/a/x/y/b')).toBe(true);
    expect(http.test('/a/x/y/c')).toBe(false);
    const plain = compileMatcher(['docs://*'], 'mcp');
    expect(plain.test('docs://guide')).toBe(true);
    expect(plain.test('doc://guide')).toBe(false);
    expect(compileGlob('*.customers.*').test('public.customers.email')).toBe(true);
    expect(compileGlob('customers.*', { separator: '.' }).test('customers.a.b')).toBe(false);
  });
});

describe('PostgreSQL names', () => {
  it('a column pattern: `*` inside one part, case ignored, `table.column` in every schema', () => {
    const c = compileColumnPattern('customers.e*');
    expect(c.source).toBe('*.customers.e*');
    expect(c.test('public.customers.email')).toBe(true);
    expect(c.test('Sales.Customers.EMAIL')).toBe(true);
    expect(c.test('public.customers.x.email')).toBe(false);
    expect(c.test('public.customers_eu.email')).toBe(false);
    expect(c.testColumn('Email')).toBe(true);
    expect(c.testRelation('app.customers')).toBe(true);
    expect(compileColumnPattern('*.*a*b*').test('s.t.xaxbx')).toBe(true);
    expect(compileColumnPattern('*.*ab*').test('s.t.aab')).toBe(true);
    expect(compileColumnPattern('*.*ab*b').test('s.t.ab')).toBe(false);
  });

  it('covering: a mask covers a pattern only when it masks every column the pattern names', () => {
    expect(columnPatternCovers('*.*.email', 'customers.email')).toBe(true);
    expect(columnPatternCovers('customers.email', '*.email')).toBe(false);
    expect(columnPatternCovers('customers.email', 'public.customers.EMAIL')).toBe(true);
    expect(columnPatternCovers('public.customers.email', 'customers.email')).toBe(false);
    expect(columnPatternCovers('*.cust*.e*', '*.customers.e*')).toBe(true);
    expect(columnPatternCovers('*.customers.e*', '*.cust*.e*')).toBe(false);
  });

  it('a rule reaches relations case-exactly, a bare table in public', () => {
    const m = compileNamePatterns(['orders', 'audit.log_*'], 'postgres');
    expect(m.test('public.orders')).toBe(true);
    expect(m.test('public.Orders')).toBe(false);
    expect(m.test('audit.log_2026')).toBe(true);
    expect(m.test('audit.log_2026.x')).toBe(false);
  });
});

describe('CODEOWNERS paths', () => {
  it('follow GitHub rules: anchoring, directories, `*` in a segment, `**` across', () => {
    const t = (p: string, path: string) => compileRepositoryPathPattern(p).test(path);
    expect(t('*', 'a/b.yaml')).toBe(true);
    expect(t('*.yaml', 'policies/x.yaml')).toBe(true);
    expect(t('/policies/', 'policies/a/b.yaml')).toBe(true);
    expect(t('/policies/', 'x/policies/a.yaml')).toBe(false);
    expect(t('policies/', 'x/policies/a.yaml')).toBe(true);
    expect(t('docs/*.md', 'docs/a.md')).toBe(true);
    expect(t('docs/*.md', 'docs/x/a.md')).toBe(false);
    expect(t('docs/**/a.md', 'docs/x/y/a.md')).toBe(true);
    expect(t('.github/CODEOWNERS', '.github/CODEOWNERS')).toBe(true);
    expect(t('.github/CODEOWNERS', 'xgithub/CODEOWNERS')).toBe(false);
    expect(t('a?.md', 'ab.md')).toBe(true);
    expect(t('a?.md', 'a/.md')).toBe(false);
  });
});
