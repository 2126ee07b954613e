import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { luhnValid, RULES, scrubJson, scrubText, type Detector } from '../../runtime/masking/detectors.ts';

describe('detectors catch', () => {
  it.each([
    ['email', 'contact ada.lovelace@example.com today', 'contact [email] today'],
    ['email in an error', 'Key (email)=(grace.hopper@example.com) already exists.', 'Key (email)=([email]) already exists.'],
    ['ssn', 'ssn 138-63-8919.', 'ssn [ssn].'],
    ['card with spaces', 'card 4111 1111 1111 1111 ok', 'card [card] ok'],
    ['card plain', 'invalid input syntax for type integer: "4111111001047292"', 'invalid input syntax for type integer: "[card]"'],
    ['jwt', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'token [token]'],
    ['aws', 'AKIAIOSFODNN7EXAMPLE', '[token]'],
    ['github', 'ghp_0123456789abcdefghijABCDEFGHIJ012345', '[token]'],
    ['slack', 'xoxb-1234567890-abcdefghij', '[token]'],
    ['bearer', 'Authorization: Bearer abc.def-ghi_jkl', 'Authorization: Bearer [token]'],
    ['hex secret', 'key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'key [token]'],
    ['base64 secret', 'secret=Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg==', 'secret=[token]'],
  ])('%s', (_name, input, output) => {
    expect(scrubText(input).text).toBe(output);
  });
});

describe('detectors do not over-match', () => {
  it.each([
    'relation "customers" does not exist',
    'phone +1-555-0101, order 12345, total 99.50',
    'card-like but not Luhn: 4111 1111 1111 1112',
    'ssn-like but invalid: 000-12-3456 and 666-12-3456',
    'uuid 123e4567-e89b-12d3-a456-426614174000',
    'ThisIsAVeryLongCamelCaseIdentifierNameWithoutDigits',
    '/usr/local/lib/node_modules/some-package/dist/index.js',
    'duplicate key value violates unique constraint "customers_pkey"',
    'at 2024-01-01 12:00:00+00',
  ])('%s', (input) => {
    expect(scrubText(input)).toEqual({ text: input, count: 0 });
  });
});

describe('linear time on adversarial input', () => {
  it.each([
    'a'.repeat(200_000),
    'eyJ'.repeat(70_000),
    '1 '.repeat(100_000),
    'a@'.repeat(100_000),
    `${'a.'.repeat(100_000)}@`,
    '1-'.repeat(100_000),
    `${'A'.repeat(200_000)}!`,
    'eyJa.'.repeat(40_000),
    `x@${'a.'.repeat(100_000)}`,
    `Bearer ${'a'.repeat(200_000)}`,
    '4'.repeat(200_000),
    `${'ab'.repeat(100_000)}=`,
  ])('input %#', (input) => {
    const start = performance.now();
    scrubText(input);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

const word = fc.stringMatching(/^[a-z]{1,8}$/);
const filler = fc.array(word, { maxLength: 6 }).map((w) => w.join(' '));
const luhnCard = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 15, maxLength: 15 }).map((ds) => {
  const body = `4${ds.slice(1).join('')}`;
  for (let d = 0; d < 10; d++) if (luhnValid(`${body}${d}`)) return `${body}${d}`;
  throw new Error('unreachable');
});
const ssn = fc
  .tuple(fc.integer({ min: 1, max: 665 }), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 9999 }))
  .map(([a, g, s]) => `${String(a).padStart(3, '0')}-${String(g).padStart(2, '0')}-${String(s).padStart(4, '0')}`);
const email = fc.tuple(fc.stringMatching(/^[a-z0-9._]{1,20}$/), fc.stringMatching(/^[a-z]{1,10}$/), fc.constantFrom('com', 'org', 'io')).map(([l, d, t]) => `${l}@${d}.${t}`);
const token = fc.stringMatching(/^[A-Za-z0-9]{36}$/).map((s) => `ghp_${s}`);

describe('property: scrubbed output never contains the secret', () => {
  for (const [name, secret] of [
    ['card', luhnCard],
    ['ssn', ssn],
    ['email', email],
    ['token', token],
  ] as const) {
    it(name, () => {
      fc.assert(
        fc.property(filler, secret as fc.Arbitrary<string>, filler, (before, s, after) => {
          const { text, count } = scrubText(`${before} ${s} ${after}`);
          expect(text).not.toContain(s);
          expect(count).toBeGreaterThanOrEqual(1);
        }),
        { numRuns: 300 },
      );
    });
  }
  it('scrubJson walks nested values and keys', () => {
    const { value, count } = scrubJson({ a: ['ada@example.com', { 'x@y.io': 1, n: 5, s: '138-63-8919' }], b: null });
    expect(value).toEqual({ a: ['[email]', { '[email]': 1, n: 5, s: '[ssn]' }], b: null });
    expect(count).toBe(3);
  });
});

/** scrubText as it was before the prefilters: every rule's regex over the whole text. */
function everyRule(input: string, kinds?: ReadonlySet<Detector>): { text: string; count: number } {
  let text = input;
  let count = 0;
  for (const rule of RULES) {
    if (kinds !== undefined && !kinds.has(rule.kind)) continue;
    rule.pattern.lastIndex = 0;
    text = text.replace(rule.pattern, (match: string) => {
      if (rule.accept && !rule.accept(match)) return match;
      count++;
      return rule.replace ? rule.replace(match) : `[${rule.kind}]`;
    });
  }
  return { text, count };
}

describe('property: the prefilters that skip a rule never skip a match', () => {
  // fragments near every rule's edge: short and long digit runs, separators, literals the rules need
  const fragment = fc.oneof(
    fc.constantFrom('@', '.', '-', ' ', '_', 'Bearer ', 'bearer\t', 'eyJ', 'AKIA', 'ASIA', 'ghp_', 'github_pat_', 'xoxb-', '=', 'com', 'a', 'Z'),
    fc.stringMatching(/^[0-9]{1,16}$/),
    fc.stringMatching(/^[A-Za-z0-9]{1,40}$/),
    luhnCard,
    ssn,
    email,
    token,
  );
  const kinds = fc.option(
    fc.subarray(['email', 'ssn', 'card', 'token'] as Detector[], { minLength: 1 }).map((k) => new Set(k)),
    { nil: undefined },
  );
  it('matches the regexes run over everything', () => {
    fc.assert(
      fc.property(
        fc.array(fragment, { maxLength: 12 }).map((f) => f.join('')),
        kinds,
        (text, k) => {
          expect(scrubText(text, k)).toEqual(everyRule(text, k));
        },
      ),
      { numRuns: 5000 },
    );
  });
});
