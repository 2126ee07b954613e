/**
 * Durations as people write them in flags and policy files: `30s`, `15m`, `2h`, `1d`, `500ms`, or
 * a concatenation such as `1h30m`. One parser so a TTL means the same thing everywhere.
 */
import { PortcullisError } from '../errors.ts';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const WHOLE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/** Milliseconds of a duration string; throws `invalid_argument` naming the accepted forms. */
export function parseDuration(text: string): number {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  if (!WHOLE.test(trimmed)) {
    throw new PortcullisError('invalid_argument', `invalid duration ${JSON.stringify(text)}`, {
      details: { hint: 'write a whole number followed by a unit: 500ms, 30s, 15m, 2h, 1d (or combined, e.g. 1h30m)' },
    });
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit as string] ?? 0);
  }
  if (total <= 0 || !Number.isSafeInteger(total)) {
    throw new PortcullisError('invalid_argument', `duration ${JSON.stringify(text)} must be positive and finite`);
  }
  return total;
}

/** The shortest exact rendering of a millisecond count, the inverse of parseDuration. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
