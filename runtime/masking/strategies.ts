/**
 * Masking one column value as it passes the gateway. The result must stay VALID for the column's
 * type in the format the client asked for (text 0 or binary 1): a client driver that decodes an
 * int4 column and gets "***" fails, and a failing driver is a broken agent.
 *
 * Rules by type (strategy → result):
 *
 * | type (oid)                                   | redact    | partial                          | hash                                  |
 * | -------------------------------------------- | --------- | -------------------------------- | ------------------------------------- |
 * | text 25, varchar 1043, bpchar 1042, name 19, | `***`     | keep the last 4 characters (at   | 16 hex chars of HMAC-SHA256(key, v)   |
 * | unknown 705, and oids declared text-like     |           | most half), `*` for every other  |                                       |
 * | (citext and other extension types)           |           | letter/digit, separators kept:   |                                       |
 * |                                              |           | `***-**-6789`; emails keep the   |                                       |
 * |                                              |           | first character and the domain:  |                                       |
 * |                                              |           | `a***@example.com`               |                                       |
 * | int2 21, int4 23, int8 20                    | NULL      | NULL                             | HMAC truncated to the type's width,   |
 * |                                              |           |                                  | as a signed integer                   |
 * | uuid 2950                                    | NULL      | NULL                             | UUID built from the HMAC (version 8)  |
 * | json 114, jsonb 3802                         | `"***"`   | `"***"`                          | the hex hash as a JSON string         |
 * | bytea 17                                     | NULL      | NULL                             | the 32 HMAC bytes                     |
 * | anything else (numeric, dates, arrays,       | NULL      | NULL                             | NULL                                  |
 * | domains, enums, composite, unknown oids)     |           |                                  |                                       |
 *
 * The `null` strategy is NULL for every type. A NULL value stays NULL (its absence is not secret).
 * Hashes are computed over the value's TEXT representation, so the same value hashes alike
 * whether the client asked for text or binary, and an agent can still join or group on them.
 */
import { createHmac } from 'node:crypto';
import type { MaskStrategy } from '../engine/decision.ts';

export const TypeOids = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  uuid: 2950,
  jsonb: 3802,
} as const;

const TEXT_LIKE = new Set<number>([TypeOids.text, TypeOids.varchar, TypeOids.bpchar, TypeOids.name, TypeOids.unknown]);
const INT_WIDTH = new Map<number, 2 | 4 | 8>([
  [TypeOids.int2, 2],
  [TypeOids.int4, 4],
  [TypeOids.int8, 8],
]);

export interface MaskValueOptions {
  /** the type is text-like although its oid is not built in (citext and friends: oids vary per database) */
  textLike?: boolean;
}

const REDACTED = '***';
const HASH_HEX_CHARS = 16;
/** Never reveal more than this many trailing characters, nor more than half of the value. */
const PARTIAL_KEEP = 4;

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

/** Keep the last characters and the separators, star every other letter or digit. */
export function partialText(value: string): string {
  const at = value.lastIndexOf('@');
  if (at > 0 && at < value.length - 1 && !/\s/.test(value)) {
    // An email: the domain is rarely the secret part, the mailbox is.
    return `${value[0]}***${value.slice(at)}`;
  }
  const chars = [...value];
  const keep = Math.min(PARTIAL_KEEP, Math.floor(chars.length / 2));
  return chars.map((ch, i) => (i >= chars.length - keep ? ch : /[\p{L}\p{N}]/u.test(ch) ? '*' : ch)).join('');
}

/** The value's text representation, whatever format it arrived in. */
function asText(value: Buffer, typeOid: number, format: 0 | 1): string | undefined {
  if (format === 0) return value.toString('utf8');
  const width = INT_WIDTH.get(typeOid);
  if (width === 2 && value.length === 2) return String(value.readInt16BE(0));
  if (width === 4 && value.length === 4) return String(value.readInt32BE(0));
  if (width === 8 && value.length === 8) return value.readBigInt64BE(0).toString();
  if (typeOid === TypeOids.uuid && value.length === 16) {
    const h = value.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  if (typeOid === TypeOids.jsonb && value.length > 0) return value.subarray(1).toString('utf8'); // version byte
  if (typeOid === TypeOids.bytea) return `\\x${value.toString('hex')}`;
  return value.toString('utf8'); // text-like types send their bytes as they are
}

function jsonString(text: string, typeOid: number, format: 0 | 1): Buffer {
  const body = Buffer.from(JSON.stringify(text), 'utf8');
  // jsonb in binary format is a version byte (1) followed by the text
  return typeOid === TypeOids.jsonb && format === 1 ? Buffer.concat([Buffer.from([1]), body]) : body;
}

function hashInt(digest: Buffer, width: 2 | 4 | 8, format: 0 | 1): Buffer {
  const n = width === 2 ? BigInt(digest.readInt16BE(0)) : width === 4 ? BigInt(digest.readInt32BE(0)) : digest.readBigInt64BE(0);
  if (format === 0) return Buffer.from(n.toString(), 'utf8');
  const out = Buffer.alloc(width);
  if (width === 2) out.writeInt16BE(Number(n));
  else if (width === 4) out.writeInt32BE(Number(n));
  else out.writeBigInt64BE(n);
  return out;
}

function hashUuid(digest: Buffer, format: 0 | 1): Buffer {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80; // version 8: custom
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  if (format === 1) return b;
  const h = b.toString('hex');
  return Buffer.from(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`, 'utf8');
}

/**
 * A text value masked by the text-like rules of the table above, as a string: the same result as
 * `maskValue` for a text column, without the Buffers (JSON strings and numbers are masked this way).
 */
export function maskText(text: string, strategy: MaskStrategy, key: Buffer): string | null {
  if (strategy === 'null') return null;
  if (strategy === 'redact') return REDACTED;
  if (strategy === 'partial') return partialText(text);
  return hmac(key, text).toString('hex').slice(0, HASH_HEX_CHARS);
}

export function maskValue(value: Buffer | null, typeOid: number, format: 0 | 1, strategy: MaskStrategy, key: Buffer, options: MaskValueOptions = {}): Buffer | null {
  if (value === null || strategy === 'null') return null;
  const text = asText(value, typeOid, format);
  if (text === undefined) return null;

  if (TEXT_LIKE.has(typeOid) || options.textLike) {
    // bpchar pads with spaces; the padding is not part of the value
    return Buffer.from(maskText(typeOid === TypeOids.bpchar ? text.replace(/ +$/, '') : text, strategy, key) ?? '', 'utf8');
  }
  if (typeOid === TypeOids.json || typeOid === TypeOids.jsonb) {
    if (strategy === 'hash') return jsonString(hmac(key, text).toString('hex').slice(0, HASH_HEX_CHARS), typeOid, format);
    return jsonString(REDACTED, typeOid, format);
  }
  if (strategy !== 'hash') return null;
  const width = INT_WIDTH.get(typeOid);
  if (width) return hashInt(hmac(key, text), width, format);
  if (typeOid === TypeOids.uuid) return hashUuid(hmac(key, text), format);
  if (typeOid === TypeOids.bytea) {
    const d = hmac(key, text);
    return format === 1 ? d : Buffer.from(`\\x${d.toString('hex')}`, 'utf8');
  }
  return null;
}
