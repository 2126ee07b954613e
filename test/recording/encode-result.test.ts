/**
 * Result records are written out by hand in canonical key order (recorder.ts encodeResult); the
 * hash a verifier recomputes depends on that text being exactly canonical JSON.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonical } from '../../runtime/encoding/canonical.ts';
import { encodeResult } from '../../runtime/recording/recorder.ts';
import { boundSample } from '../../runtime/recording/sample.ts';

const cell = fc.oneof(fc.string({ unit: 'binary' }), fc.constant(null), fc.integer(), fc.double());
const result = fc.record(
  {
    sessionId: fc.string({ unit: 'binary' }),
    seq: fc.integer({ min: 1 }),
    status: fc.constantFrom('ok', 'error'),
    durationMs: fc.oneof(fc.integer({ min: 0 }), fc.double()),
    rows: fc.option(fc.integer({ min: 0 }), { nil: undefined }),
    maskedValues: fc.option(fc.integer({ min: 0 }), { nil: undefined }),
    sample: fc.option(fc.array(fc.array(cell, { maxLength: 4 }), { maxLength: 8 }), { nil: undefined }),
    error: fc.option(fc.record({ code: fc.string(), message: fc.string({ unit: 'binary' }) }), { nil: undefined }),
  },
  { requiredKeys: ['sessionId', 'seq', 'status', 'durationMs'] },
);

describe('encodeResult', () => {
  it('is canonical JSON of the result with its sample bounded, for any result', () => {
    fc.assert(
      fc.property(result, (r) => {
        const encoded = encodeResult(r as Parameters<typeof encodeResult>[0]);
        expect(canonical(encoded)).toBe(canonical({ ...r, sample: boundSample(r.sample) }));
      }),
      { numRuns: 500 },
    );
  });

  it('hands a result with members it does not know to the general encoder', () => {
    const r = { sessionId: 's', seq: 1, status: 'ok' as const, durationMs: 2, extra: { b: 1, a: 2 } };
    expect(canonical(encodeResult(r))).toBe('{"durationMs":2,"extra":{"a":2,"b":1},"seq":1,"sessionId":"s","status":"ok"}');
  });
});
