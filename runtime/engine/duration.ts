/** Durations as policy files write them: 500ms, 30s, 15m, 8h, 1d. */
import { PortcullisError } from '../errors.ts';

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) {
    throw new PortcullisError('invalid_argument', `'${text}' is not a duration`, {
      details: { hint: 'write a number and a unit: 500ms, 30s, 15m, 8h or 1d' },
    });
  }
  return Number(m[1]) * units[m[2]!]!;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
