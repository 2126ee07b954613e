/** Masked values must be valid for their column type: fed back through PostgreSQL in text and binary. */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskValue, partialText, TypeOids } from '../../runtime/masking/strategies.ts';
import type { MaskStrategy } from '../../runtime/engine/decision.ts';
import { pgClient } from '../harness/postgres.ts';

const key = Buffer.from('test-key');
let client: pg.Client;
beforeAll(async () => {
  client = await pgClient();
});
afterAll(async () => {
  await client?.end();
});

/**
 * The value of `literal::type` from PostgreSQL in text format, and its binary encoding (node-pg
 * hands binary results over as strings, so the binary form is built here from the canonical text:
 * big-endian integers, 16 uuid bytes, raw bytea, jsonb's version byte).
 */
async function sample(literal: string, type: string): Promise<{ text: Buffer; binary: Buffer; oid: number }> {
  const r = await client.query({ text: `select $1::${type}::text as v, pg_typeof($1::${type})::oid::int as oid`, values: [literal] });
  const text = r.rows[0].v as string;
  const oid = r.rows[0].oid as number;
  return { text: Buffer.from(text), binary: toBinary(text, oid), oid };
}

function toBinary(text: string, oid: number): Buffer {
  const b = (n: number) => Buffer.alloc(n);
  if (oid === TypeOids.int2) {
    const x = b(2);
    x.writeInt16BE(Number(text));
    return x;
  }
  if (oid === TypeOids.int4) {
    const x = b(4);
    x.writeInt32BE(Number(text));
    return x;
  }
  if (oid === TypeOids.int8) {
    const x = b(8);
    x.writeBigInt64BE(BigInt(text));
    return x;
  }
  if (oid === TypeOids.uuid) return Buffer.from(text.replace(/-/g, ''), 'hex');
  if (oid === TypeOids.bytea) return Buffer.from(text.replace(/^\\x/, ''), 'hex');
  if (oid === TypeOids.jsonb) return Buffer.concat([Buffer.from([1]), Buffer.from(text)]);
  return Buffer.from(text);
}

/** PostgreSQL accepts the masked value as input of `type` (text) and returns the same when it goes back out. */
async function validText(masked: Buffer, type: string): Promise<string> {
  const r = await client.query({ text: `select $1::${type}::text as v`, values: [masked.toString('utf8')] });
  return r.rows[0].v as string;
}

const CASES: Array<[type: string, literal: string]> = [
  ['text', '138-63-8919'],
  ['varchar(20)', 'ada.lovelace@example.com'],
  ['char(19)', '4111 1111 1111 1111'],
  ['name', 'secret-name'],
  ['int2', '1234'],
  ['int4', '123456789'],
  ['int8', '1234567890123'],
  ['uuid', '123e4567-e89b-12d3-a456-426614174000'],
  ['json', '{"a":1}'],
  ['jsonb', '{"a":1}'],
  ['bytea', '\\x0102'],
  ['numeric', '12.5'],
  ['date', '2024-01-01'],
  ['timestamptz', '2024-01-01 00:00:00+00'],
];
const STRATEGIES: MaskStrategy[] = ['redact', 'partial', 'hash', 'null'];

describe('maskValue produces values valid for the type', () => {
  for (const [type, literal] of CASES) {
    it(`${type}`, async () => {
      const s = await sample(literal, type);
      for (const strategy of STRATEGIES) {
        const t = maskValue(s.text, s.oid, 0, strategy, key);
        const b = maskValue(s.binary, s.oid, 1, strategy, key);
        expect(t === null, `${type}/${strategy}`).toBe(b === null);
        if (t === null) continue;
        expect(t.toString('utf8')).not.toContain(literal.replace(/^\\x/, ''));
        const back = await validText(t, type);
        expect(back.length).toBeGreaterThan(0);
        if (b && s.oid !== TypeOids.bpchar) {
          // the binary result decodes to the same value as the text one (hash computed over text form)
          expect(toBinary(back, s.oid).equals(b), `${type}/${strategy} binary`).toBe(true);
        }
      }
    });
  }
});

describe('strategy details', () => {
  it('partial keeps the last 4 characters (at most half) and email domains', () => {
    expect(partialText('123-45-6789')).toBe('***-**-6789');
    expect(partialText('4111 1111 1111 1111')).toBe('**** **** **** 1111');
    expect(partialText('ada@example.com')).toBe('a***@example.com');
    expect(partialText('1234')).toBe('**34');
  });
  it('hash is deterministic per key and differs between keys', () => {
    const v = Buffer.from('138-63-8919');
    expect(maskValue(v, TypeOids.text, 0, 'hash', key)).toEqual(maskValue(v, TypeOids.text, 0, 'hash', key));
    expect(maskValue(v, TypeOids.text, 0, 'hash', key)).not.toEqual(maskValue(v, TypeOids.text, 0, 'hash', Buffer.from('other')));
  });
  it('keeps NULL and nulls everything under the null strategy', () => {
    expect(maskValue(null, TypeOids.text, 0, 'redact', key)).toBeNull();
    expect(maskValue(Buffer.from('x'), TypeOids.text, 0, 'null', key)).toBeNull();
  });
  it('treats a declared text-like oid as text', () => {
    expect(maskValue(Buffer.from('x@y.com'), 99999, 0, 'redact', key, { textLike: true })?.toString()).toBe('***');
    expect(maskValue(Buffer.from('x@y.com'), 99999, 0, 'redact', key)).toBeNull();
  });
});
