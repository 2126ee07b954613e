/**
 * Bounds the result sample kept in evidence: a few rows, short strings, shallow nesting. The sample
 * helps a reviewer see what an agent got back; it must never grow into a copy of the data.
 */
import { SAMPLE_ROWS } from './format.ts';

const MAX_STRING = 256;
const MAX_ITEMS = 50;
const MAX_DEPTH = 4;

export function boundSample(rows: readonly unknown[] | undefined, maxRows = SAMPLE_ROWS): unknown[] | undefined {
  if (!rows) return undefined;
  return rows.slice(0, Math.max(0, Math.min(maxRows, SAMPLE_ROWS))).map((row) => bound(row, 0));
}

function bound(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => bound(v, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`… ${value.length - MAX_ITEMS} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value);
  for (const [k, v] of entries.slice(0, MAX_ITEMS)) out[k] = bound(v, depth + 1);
  if (entries.length > MAX_ITEMS) out['…'] = `${entries.length - MAX_ITEMS} more fields`;
  return out;
}
