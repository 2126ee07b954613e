/** Where the listed outputSchema admits a mask's string: the masked properties and array items, nothing else. */
import { describe, expect, it } from 'vitest';
import type { Mask } from '../../runtime/engine/decision.ts';
import { MASKED_NOTE, widenOutputSchema } from '../../runtime/protocols/mcp/output-schema.ts';

const field = (pattern: string): Mask => ({ kind: 'field', pattern, strategy: 'redact' }) as Mask;
const admits = (inner: unknown) => ({ anyOf: [inner, { type: ['string', 'null'], description: MASKED_NOTE }] });
const SCHEMA = {
  type: 'object',
  properties: {
    scores: { type: 'array', items: { type: 'number' } },
    customer: { type: 'object', properties: { id: { type: 'number' }, name: { type: 'string' } }, required: ['id'] },
    total: { type: 'number' },
  },
};

describe('widenOutputSchema', () => {
  it('widens the properties a mask names and the items of an array a mask selects, and nothing else', () => {
    const out = widenOutputSchema(SCHEMA, [field('$..customer.id'), field('$.scores[*]')]) as typeof SCHEMA;
    expect(out.properties.customer.properties.id).toEqual(admits({ type: 'number' }));
    expect(out.properties.customer.properties.name).toEqual({ type: 'string' });
    expect(out.properties.customer.required).toEqual(['id']);
    expect(out.properties.scores.items).toEqual(admits({ type: 'number' }));
    expect(out.properties.total).toEqual({ type: 'number' });
    // the server's schema is not modified
    expect(SCHEMA.properties.total).toEqual({ type: 'number' });
  });

  it('leaves a schema alone without field masks, and keeps a __proto__ property a property', () => {
    expect(widenOutputSchema(SCHEMA, [{ kind: 'content', pattern: 'email', strategy: 'redact' } as Mask])).toBe(SCHEMA);
    const odd = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"number"}}}');
    const out = widenOutputSchema(odd, [field('$..__proto__')]) as { properties: Record<string, unknown> };
    expect(Object.getOwnPropertyNames(out.properties)).toEqual(['__proto__']);
  });
});
