/**
 * JSON values through the shared masking code (runtime/masking), so a classified value looks the
 * same whether it left through PostgreSQL, HTTP or Kubernetes: strings and numbers are masked as
 * text (`***`, `a***@example.com`, `***-**-6789`, a keyed 16-hex hash), whole objects and arrays as
 * JSON (`"***"` or the hash). Content detectors are the shared ones; a content mask runs the kinds
 * it lists (email, ssn, card, token) and no others.
 */
import { randomBytes } from 'node:crypto';
import type { MaskStrategy } from '../../engine/decision.ts';
import { maskText, maskValue as maskTyped, TypeOids } from '../../masking/strategies.ts';
import { scrubText as scrubShared, type Detector } from '../../masking/detectors.ts';
import { markedNumber, restoreNumbers } from './exact-numbers.ts';

/** Used when the gateway passes no key: hashes are then stable only for this process's life. */
export const processMaskKey = randomBytes(32);

export function maskJsonValue(value: unknown, strategy: MaskStrategy, key: Buffer): unknown {
  if (value === null || value === undefined) return null;
  if (strategy === 'null') return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    // a number kept exactly (exact-numbers.ts) is masked as the text the upstream wrote
    return maskText(markedNumber(value) ?? String(value), strategy, key);
  }
  const out = maskTyped(Buffer.from(restoreNumbers(JSON.stringify(value)), 'utf8'), TypeOids.json, 0, strategy, key);
  return out === null ? null : (JSON.parse(out.toString('utf8')) as unknown);
}

export function scrubText(text: string, kinds?: ReadonlySet<Detector>): { text: string; count: number } {
  return scrubShared(text, kinds);
}
