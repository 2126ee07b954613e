/**
 * Whether a decision's mask covers what a test expects to be masked. Tests write what a reader
 * thinks of (`customers.email`, `$..email`, `secret-data`, `content:ssn`); decisions carry patterns
 * (`*.customers.email`, `*.*.card_number`), so a column is covered when a pattern matches it.
 */
import type { Mask } from '../engine/decision.ts';
import { normaliseColumnPattern } from '../engine/compile.ts';
import { compileGlob } from '../engine/pattern.ts';

export function maskCovers(mask: Mask, expected: string): boolean {
  const prefixed = /^(column|field|secret-data|content):(.*)$/.exec(expected);
  if (prefixed) {
    if (mask.kind !== prefixed[1]) return false;
    return mask.kind === 'column' ? columnCovered(mask.pattern, prefixed[2]!) : mask.pattern === prefixed[2] || mask.pattern === '*';
  }
  if (expected === 'secret-data') return mask.kind === 'secret-data';
  if (expected.startsWith('$')) return mask.kind === 'field' && mask.pattern === expected;
  return mask.kind === 'column' && columnCovered(mask.pattern, expected);
}

function columnCovered(pattern: string, column: string): boolean {
  const want = normaliseColumnPattern(column);
  const full = want.startsWith('*.') ? `public.${want.slice(2)}` : want;
  if (pattern === want) return true;
  return compileGlob(pattern, { separator: '.' }).test(full);
}
