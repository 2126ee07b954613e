/**
 * Builders for every message the gateway itself produces, towards clients and towards backends.
 * Each computes its exact size first and allocates once. Strings that the protocol NUL-terminates
 * are refused if they contain a NUL, since the receiver would split the frame differently.
 */
import { PortcullisError } from '../../../errors.ts';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_VERSION_3, SSL_REQUEST_CODE } from './frontend.ts';

class Writer {
  readonly buf: Buffer;
  private pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  /** Type byte plus int32 length covering everything but the type byte. */
  header(code: string): this {
    this.buf[0] = code.charCodeAt(0);
    this.buf.writeInt32BE(this.buf.length - 1, 1);
    this.pos = 5;
    return this;
  }
  int8(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }
  int16(v: number): this {
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }
  /** counts are unsigned 16-bit on the wire (PostgreSQL allows 65,535 parameters) */
  count16(v: number): this {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }
  int32(v: number): this {
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }
  uint32(v: number): this {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  cstring(s: string, bytes: number): this {
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }
  text(s: string, bytes: number): this {
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
    return this;
  }
  bytes(b: Buffer): this {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }
  done(): Buffer {
    if (this.pos !== this.buf.length) throw new PortcullisError('internal', `serializer wrote ${this.pos} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

/** Byte length of a C string including its terminator, refusing embedded NULs. */
function cLen(s: string, field: string): number {
  if (s.includes('\0')) throw new PortcullisError('invalid_argument', `${field} must not contain a NUL character`);
  return Buffer.byteLength(s, 'utf8') + 1;
}

function int16Count(n: number, field: string): number {
  if (n > 0xffff) throw new PortcullisError('invalid_argument', `too many ${field} (${n}); the protocol allows 65535`);
  return n;
}

type Value = Buffer | string | null;

/** Encoded lengths of values (-1 for NULL), computed once so strings are written without a copy. */
function lengths(values: Value[]): { lens: number[]; total: number } {
  const lens = new Array<number>(values.length);
  let total = 2;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const l = v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
    lens[i] = l;
    total += 4 + (l > 0 ? l : 0);
  }
  return { lens, total };
}

function writeValues(w: Writer, values: Value[], lens: number[]): void {
  w.count16(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    w.int32(lens[i]!);
    if (v === null) continue;
    if (typeof v === 'string') w.text(v, lens[i]!);
    else w.bytes(v);
  }
}

function fixed(code: string): Buffer {
  return new Writer(5).header(code).done();
}

// ---- towards a client (what a server sends) --------------------------------------------------

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  /** SQLSTATE, five characters. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
  /** Further fields by their one-letter tag, e.g. { s: 'public', t: 'customers' }. */
  extra?: Record<string, string>;
}

function errorLike(code: 'E' | 'N', f: ErrorFields): Buffer {
  if (!/^[0-9A-Z]{5}$/.test(f.code)) throw new PortcullisError('invalid_argument', `SQLSTATE "${f.code}" is not five characters [0-9A-Z]`);
  const pairs: [string, string][] = [
    ['S', f.severity],
    ['V', f.severity],
    ['C', f.code],
    ['M', f.message],
  ];
  if (f.detail !== undefined) pairs.push(['D', f.detail]);
  if (f.hint !== undefined) pairs.push(['H', f.hint]);
  if (f.position !== undefined) pairs.push(['P', String(f.position)]);
  for (const [tag, value] of Object.entries(f.extra ?? {})) {
    if (tag.length !== 1 || tag === '\0') throw new PortcullisError('invalid_argument', `error field tag "${tag}" must be one character`);
    pairs.push([tag, value]);
  }
  let size = 5 + 1;
  const lens = pairs.map(([tag, v]) => cLen(v, `error field ${tag}`));
  for (const l of lens) size += 1 + l;
  const w = new Writer(size).header(code);
  pairs.forEach(([tag, v], i) => w.int8(tag.charCodeAt(0)).cstring(v, lens[i]! - 1));
  return w.int8(0).done();
}

export const errorResponse = (f: ErrorFields): Buffer => errorLike('E', f);
export const noticeResponse = (f: ErrorFields): Buffer => errorLike('N', f);

function authentication(sub: number, extra?: Buffer): Buffer {
  const w = new Writer(9 + (extra?.length ?? 0)).header('R').int32(sub);
  if (extra) w.bytes(extra);
  return w.done();
}

export const authenticationOk = (): Buffer => authentication(0);
export const authenticationCleartextPassword = (): Buffer => authentication(3);
export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new PortcullisError('invalid_argument', 'an MD5 salt is exactly 4 bytes');
  return authentication(5, salt);
}
export function authenticationSASL(mechanisms: string[]): Buffer {
  const lens = mechanisms.map((m) => cLen(m, 'SASL mechanism'));
  const w = new Writer(9 + lens.reduce((a, b) => a + b, 0) + 1).header('R').int32(10);
  mechanisms.forEach((m, i) => w.cstring(m, lens[i]! - 1));
  return w.int8(0).done();
}
export const authenticationSASLContinue = (data: Buffer): Buffer => authentication(11, data);
export const authenticationSASLFinal = (data: Buffer): Buffer => authentication(12, data);

export function parameterStatus(name: string, value: string): Buffer {
  const a = cLen(name, 'parameter name');
  const b = cLen(value, 'parameter value');
  return new Writer(5 + a + b)
    .header('S')
    .cstring(name, a - 1)
    .cstring(value, b - 1)
    .done();
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  return new Writer(13).header('K').int32(processId).int32(secretKey).done();
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new Writer(6).header('Z').int8(status.charCodeAt(0)).done();
}

export interface FieldSpec {
  name: string;
  tableOid?: number;
  attnum?: number;
  typeOid: number;
  typeLen?: number;
  typeMod?: number;
  format?: number;
}

export function rowDescription(fields: FieldSpec[]): Buffer {
  int16Count(fields.length, 'fields');
  const lens = fields.map((f) => cLen(f.name, 'field name'));
  const w = new Writer(7 + lens.reduce((a, l) => a + l + 18, 0)).header('T').count16(fields.length);
  fields.forEach((f, i) => {
    w.cstring(f.name, lens[i]! - 1)
      .uint32(f.tableOid ?? 0)
      .int16(f.attnum ?? 0)
      .uint32(f.typeOid)
      .int16(f.typeLen ?? -1)
      .int32(f.typeMod ?? -1)
      .int16(f.format ?? 0);
  });
  return w.done();
}

export function dataRow(values: Value[]): Buffer {
  int16Count(values.length, 'columns');
  const { lens, total } = lengths(values);
  const w = new Writer(5 + total).header('D');
  writeValues(w, values, lens);
  return w.done();
}

export function commandComplete(tag: string): Buffer {
  const l = cLen(tag, 'command tag');
  return new Writer(5 + l)
    .header('C')
    .cstring(tag, l - 1)
    .done();
}

export const emptyQueryResponse = (): Buffer => fixed('I');
export const parseComplete = (): Buffer => fixed('1');
export const bindComplete = (): Buffer => fixed('2');
export const closeComplete = (): Buffer => fixed('3');
export const portalSuspended = (): Buffer => fixed('s');
export const noData = (): Buffer => fixed('n');

export function parameterDescription(typeOids: number[]): Buffer {
  int16Count(typeOids.length, 'parameters');
  const w = new Writer(7 + 4 * typeOids.length).header('t').count16(typeOids.length);
  for (const t of typeOids) w.uint32(t);
  return w.done();
}

function copyResponse(code: 'G' | 'H' | 'W', overallFormat: number, columnFormats: number[]): Buffer {
  int16Count(columnFormats.length, 'columns');
  const w = new Writer(8 + 2 * columnFormats.length).header(code).int8(overallFormat).count16(columnFormats.length);
  for (const f of columnFormats) w.int16(f);
  return w.done();
}
export const copyInResponse = (overallFormat: number, columnFormats: number[]): Buffer => copyResponse('G', overallFormat, columnFormats);
export const copyOutResponse = (overallFormat: number, columnFormats: number[]): Buffer => copyResponse('H', overallFormat, columnFormats);
export const copyBothResponse = (overallFormat: number, columnFormats: number[]): Buffer => copyResponse('W', overallFormat, columnFormats);

export function notificationResponse(processId: number, channel: string, payload: string): Buffer {
  const a = cLen(channel, 'channel');
  const b = cLen(payload, 'payload');
  return new Writer(9 + a + b)
    .header('A')
    .int32(processId)
    .cstring(channel, a - 1)
    .cstring(payload, b - 1)
    .done();
}

/** The one unframed byte answering SSLRequest or GSSENCRequest. */
export function encryptionResponse(accept: boolean): Buffer {
  return Buffer.from(accept ? 'S' : 'N', 'latin1');
}

// ---- either direction ----------------------------------------------------------------------

export function copyData(data: Buffer): Buffer {
  return new Writer(5 + data.length).header('d').bytes(data).done();
}
export const copyDone = (): Buffer => fixed('c');

// ---- towards a backend (what a client sends) -------------------------------------------------

export function startupMessage(params: Record<string, string> | Map<string, string>, protocolVersion = PROTOCOL_VERSION_3): Buffer {
  const entries = params instanceof Map ? [...params] : Object.entries(params);
  const lens = entries.map(([k, v]) => [cLen(k, 'startup parameter name'), cLen(v, `startup parameter ${k}`)] as const);
  for (const [k] of entries) if (k === '') throw new PortcullisError('invalid_argument', 'startup parameter names must not be empty');
  const size = 8 + lens.reduce((a, [x, y]) => a + x + y, 0) + 1;
  const w = new Writer(size);
  w.int32(size).int32(protocolVersion);
  entries.forEach(([k, v], i) => w.cstring(k, lens[i]![0] - 1).cstring(v, lens[i]![1] - 1));
  return w.int8(0).done();
}

function untyped(code: number, extra: number[] = []): Buffer {
  const w = new Writer(8 + 4 * extra.length).int32(8 + 4 * extra.length).int32(code);
  for (const e of extra) w.int32(e);
  return w.done();
}
export const sslRequest = (): Buffer => untyped(SSL_REQUEST_CODE);
export const gssencRequest = (): Buffer => untyped(GSSENC_REQUEST_CODE);
export const cancelRequest = (processId: number, secretKey: number): Buffer => untyped(CANCEL_REQUEST_CODE, [processId, secretKey]);

export function query(sql: string): Buffer {
  const l = cLen(sql, 'query');
  return new Writer(5 + l)
    .header('Q')
    .cstring(sql, l - 1)
    .done();
}

export function parse(name: string, sql: string, paramTypes: number[] = []): Buffer {
  int16Count(paramTypes.length, 'parameter types');
  const a = cLen(name, 'statement name');
  const b = cLen(sql, 'query');
  const w = new Writer(5 + a + b + 2 + 4 * paramTypes.length)
    .header('P')
    .cstring(name, a - 1)
    .cstring(sql, b - 1)
    .count16(paramTypes.length);
  for (const t of paramTypes) w.uint32(t);
  return w.done();
}

export interface BindSpec {
  portal?: string;
  statement?: string;
  paramFormats?: number[];
  params?: Value[];
  resultFormats?: number[];
}

export function bind(spec: BindSpec): Buffer {
  const portal = spec.portal ?? '';
  const statement = spec.statement ?? '';
  const paramFormats = spec.paramFormats ?? [];
  const params = spec.params ?? [];
  const resultFormats = spec.resultFormats ?? [];
  int16Count(paramFormats.length, 'parameter formats');
  int16Count(params.length, 'parameters');
  int16Count(resultFormats.length, 'result formats');
  const a = cLen(portal, 'portal name');
  const b = cLen(statement, 'statement name');
  const { lens, total } = lengths(params);
  const size = 5 + a + b + 2 + 2 * paramFormats.length + total + 2 + 2 * resultFormats.length;
  const w = new Writer(size)
    .header('B')
    .cstring(portal, a - 1)
    .cstring(statement, b - 1)
    .count16(paramFormats.length);
  for (const f of paramFormats) w.int16(f);
  writeValues(w, params, lens);
  w.count16(resultFormats.length);
  for (const f of resultFormats) w.int16(f);
  return w.done();
}

function kindAndName(code: 'D' | 'C', kind: 'S' | 'P', name: string): Buffer {
  const l = cLen(name, 'name');
  return new Writer(6 + l)
    .header(code)
    .int8(kind.charCodeAt(0))
    .cstring(name, l - 1)
    .done();
}
export const describe = (kind: 'S' | 'P', name = ''): Buffer => kindAndName('D', kind, name);
export const close = (kind: 'S' | 'P', name = ''): Buffer => kindAndName('C', kind, name);

export function execute(portal = '', maxRows = 0): Buffer {
  const l = cLen(portal, 'portal name');
  return new Writer(9 + l)
    .header('E')
    .cstring(portal, l - 1)
    .int32(maxRows)
    .done();
}

export const sync = (): Buffer => fixed('S');
export const flush = (): Buffer => fixed('H');
export const terminate = (): Buffer => fixed('X');

export function copyFail(message: string): Buffer {
  const l = cLen(message, 'CopyFail message');
  return new Writer(5 + l)
    .header('f')
    .cstring(message, l - 1)
    .done();
}

export function functionCall(functionOid: number, args: Value[], argFormats: number[] = [], resultFormat = 0): Buffer {
  int16Count(args.length, 'arguments');
  const { lens, total } = lengths(args);
  const w = new Writer(5 + 4 + 2 + 2 * argFormats.length + total + 2).header('F').uint32(functionOid).count16(argFormats.length);
  for (const f of argFormats) w.int16(f);
  writeValues(w, args, lens);
  return w.int16(resultFormat).done();
}

export function passwordMessage(password: string): Buffer {
  const l = cLen(password, 'password');
  return new Writer(5 + l)
    .header('p')
    .cstring(password, l - 1)
    .done();
}

export function saslInitialResponse(mechanism: string, data: Buffer | null): Buffer {
  const l = cLen(mechanism, 'SASL mechanism');
  const w = new Writer(5 + l + 4 + (data?.length ?? 0)).header('p').cstring(mechanism, l - 1);
  if (data === null) w.int32(-1);
  else w.int32(data.length).bytes(data);
  return w.done();
}

export function saslResponse(data: Buffer): Buffer {
  return new Writer(5 + data.length).header('p').bytes(data).done();
}
