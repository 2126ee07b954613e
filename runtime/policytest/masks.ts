/**
 * Whether a decision's mask covers what a test expects to be masked. Tests write what a reader
 * thinks of (`customers.email`, `$..email`, `secret-data`, `content:ssn`); decisions carry patterns
 * (`*.customers.email`, `*.*.card_number`), so a column is covered when a pattern matches it.
 */
import type { Mask } from '../engine/decision.ts';
import { columnName, compileColumnPattern, normaliseColumnPattern } from '../engine/pattern.ts';

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

/**
 * As the gateway's masking plan decides it: the expected column (schema `public` unless named) is
 * matched by the mask's pattern, by part and ignoring case. A star the test writes is read as text
 * the mask's star must take, so a glob is covered only by a mask at least as wide.
 */
function columnCovered(pattern: string, column: string): boolean {
  return pattern === normaliseColumnPattern(column) || compileColumnPattern(pattern).test(columnName(column));
}
