/**
 * Content detectors for free text (error and notice messages, HTTP and MCP bodies): emails, US SSNs,
 * payment card numbers and secrets are replaced by typed placeholders.
 *
 * Every pattern runs in linear time on V8's backtracking engine: each starts with a negative
 * lookbehind of its own leading character class (so a match attempt starts only at the beginning
 * of a token, and tokens do not overlap), and each repetition is over a class disjoint from what
 * follows it, or bounded. The adversarial tests feed 200k-character inputs to check this.
 */

export type Detector = 'email' | 'ssn' | 'card' | 'token';

export interface Rule {
  kind: Detector;
  pattern: RegExp;
  /**
   * A necessary condition for any match, checked before the regex runs (most strings in a JSON
   * body are short words and numbers that no detector can match): the shortest text the pattern
   * matches, and a literal or a count of digits every match contains.
   */
  min: number;
  needs?: (text: string) => boolean;
  /** extra validation on the match; false leaves the text alone */
  accept?: (match: string) => boolean;
  /** the replacement; defaults to `[kind]` */
  replace?: (match: string) => string;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function validSsn(m: string): boolean {
  const [area, group, serial] = m.split(/[- ]/);
  if (!area || !group || !serial) return false;
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

function highEntropy(m: string): boolean {
  const body = m.replace(/=+$/, '');
  if (/^[0-9a-fA-F]+$/.test(body)) return /[0-9]/.test(body) && /[a-fA-F]/.test(body) && entropy(body) >= 3;
  // base64-ish: random tokens mix cases and digits; long identifiers and words do not
  return /[0-9]/.test(body) && /[a-z]/.test(body) && /[A-Z]/.test(body) && entropy(body) >= 4;
}

function countDigits(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

const TOKEN_CHARS = 'A-Za-z0-9+/=_\\-';

/** exported for the test that the prefilters never skip a match */
export const RULES: readonly Rule[] = [
  // Bearer first, so the credential after it is one token rather than something else
  {
    kind: 'token',
    min: 15,
    needs: (t) => t.includes('earer') || t.includes('EARER'),
    pattern: /(?<![A-Za-z0-9])(Bearer|bearer|BEARER)([ \t]+)[A-Za-z0-9._~+/=-]{8,}/g,
    replace: (m) => `${m.split(/[ \t]/)[0]} [token]`,
  },
  // JWT: three base64url segments, the first two JSON objects ("eyJ")
  { kind: 'token', min: 16, needs: (t) => t.includes('eyJ'), pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g },
  { kind: 'token', min: 20, needs: (t) => t.includes('AKIA') || t.includes('ASIA'), pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g },
  { kind: 'token', min: 40, needs: (t) => t.includes('_'), pattern: /(?<![A-Za-z0-9_])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])/g },
  { kind: 'token', min: 33, needs: (t) => t.includes('github_pat_'), pattern: /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])/g },
  { kind: 'token', min: 15, needs: (t) => t.includes('xox'), pattern: /(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])/g },
  {
    kind: 'email',
    min: 6,
    needs: (t) => t.includes('@'),
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  },
  // cards: 13-19 digits, single spaces or dashes between, Luhn-valid
  { kind: 'card', min: 13, needs: (t) => countDigits(t) >= 13, pattern: /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g, accept: (m) => luhnValid(m.replace(/[ -]/g, '')) },
  { kind: 'ssn', min: 11, needs: (t) => countDigits(t) >= 9, pattern: /(?<![0-9])[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}(?![0-9])/g, accept: validSsn },
  // long random-looking tokens (API keys, hashes of secrets, session ids)
  {
    kind: 'token',
    min: 32,
    pattern: new RegExp(`(?<![A-Za-z0-9+/_\\-])[A-Za-z0-9+/_\\-]{32,}={0,2}(?![${TOKEN_CHARS}])`, 'g'),
    accept: highEntropy,
  },
];

const MIN_MATCH = Math.min(...RULES.map((r) => r.min));

export interface Scrubbed {
  text: string;
  count: number;
}

/**
 * `kinds`: the detectors a content mask names (`content: [card]`); the others leave the text alone.
 * Without it every detector runs (error and notice messages, where any of them is a leak).
 */
export function scrubText(input: string, kinds?: ReadonlySet<Detector>): Scrubbed {
  let text = input;
  let count = 0;
  // the shortest rule needs 6 characters: most JSON strings are done here
  if (input.length < MIN_MATCH) return { text, count };
  for (const rule of RULES) {
    if (kinds !== undefined && !kinds.has(rule.kind)) continue;
    // on the text as the rules before left it, exactly what the regex would see
    if (text.length < rule.min || (rule.needs !== undefined && !rule.needs(text))) continue;
    rule.pattern.lastIndex = 0;
    text = text.replace(rule.pattern, (match: string) => {
      if (rule.accept && !rule.accept(match)) return match;
      count++;
      return rule.replace ? rule.replace(match) : `[${rule.kind}]`;
    });
  }
  return { text, count };
}

/**
 * Scrub every string in a JSON value (object keys included: a key can be an email address).
 * Returns a new value; the input is not modified.
 */
export function scrubJson(value: unknown): { value: unknown; count: number } {
  let count = 0;
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const s = scrubText(v);
      count += s.count;
      return s.text;
    }
    if (Array.isArray(v)) return v.map(visit);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v)) {
        const key = scrubText(k);
        count += key.count;
        out[key.text] = visit(child);
      }
      return out;
    }
    return v;
  };
  const result = visit(value);
  return { value: result, count };
}
