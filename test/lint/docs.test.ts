/** docs/policy-ci.md embeds the catalogue generated from the rule files; they must not drift. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withCatalogue } from '../../runtime/lint/docs.ts';

describe('docs/policy-ci.md', () => {
  it('has the current lint catalogue (regenerate: npx tsx runtime/lint/docs.ts docs/policy-ci.md)', () => {
    const doc = readFileSync(new URL('../../docs/policy-ci.md', import.meta.url), 'utf8');
    expect(doc).toBe(withCatalogue(doc));
  });
});
