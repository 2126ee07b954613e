/** A policy test's `masked:` is judged as the gateway's masking plan matches columns (runtime/engine/pattern.ts). */
import { describe, expect, it } from 'vitest';
import { maskCovers } from '../../runtime/policytest/masks.ts';
import type { Mask } from '../../runtime/engine/decision.ts';

const column = (pattern: string): Mask => ({ kind: 'column', pattern, strategy: 'redact', source: 'p/r' });

describe('maskCovers', () => {
  it('matches by dot-separated part, schema public unless named, ignoring case as the gateway does', () => {
    expect(maskCovers(column('*.customers.email'), 'customers.email')).toBe(true);
    expect(maskCovers(column('*.customers.email'), 'Customers.EMAIL')).toBe(true);
    expect(maskCovers(column('public.customers.email'), 'customers.email')).toBe(true);
    expect(maskCovers(column('sales.customers.email'), 'customers.email')).toBe(false);
    expect(maskCovers(column('*.*.email'), 'column:sales.customers.email')).toBe(true);
    expect(maskCovers(column('*.cust*.email'), 'customers.x.email')).toBe(false);
  });

  it('an expected glob is covered only by a mask at least as wide', () => {
    expect(maskCovers(column('*.*.email'), 'column:*.*.email')).toBe(true);
    expect(maskCovers(column('*.customers.email'), 'column:*.*.email')).toBe(false);
  });
});
