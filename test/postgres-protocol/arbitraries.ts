/**
 * fast-check generators for protocol messages: each yields the bytes a builder produces together
 * with what a parser must read back from them.
 */
import fc from 'fast-check';
import * as ser from '../../runtime/protocols/postgres/wire/serialize.ts';

/** A protocol C string: any code points but NUL. */
export const cstr = (maxLength = 40): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength }).filter((s) => !s.includes('\0'));

export const bytes = (maxLength = 64): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const value = fc.option(bytes(), { nil: null });
const fmt = fc.constantFrom(0, 1);
const kind = fc.constantFrom<'S' | 'P'>('S', 'P');
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

export interface Generated {
  bytes: Buffer;
  /** Fields the decoded message must have (a subset of it). */
  expected: Record<string, unknown>;
}

const gen = (bytesOf: Buffer, expected: Record<string, unknown>): Generated => ({ bytes: bytesOf, expected });

/** Typed messages a client sends after startup (Terminate excluded: it ends the stream). */
export const frontendMessage: fc.Arbitrary<Generated> = fc.oneof(
  cstr(200).map((sql) => gen(ser.query(sql), { type: 'Query', sql })),
  fc.tuple(cstr(), cstr(200), fc.array(uint32, { maxLength: 5 })).map(([name, query, paramTypes]) => gen(ser.parse(name, query, paramTypes), { type: 'Parse', name, query, paramTypes })),
  fc.tuple(cstr(), cstr(), fc.array(value, { maxLength: 6 }), fc.array(fmt, { maxLength: 4 }), fc.nat(2)).chain(([portal, statement, params, resultFormats, formatMode]) => {
    // Formats: none (all text), one (applies to all), or one per parameter.
    const count = formatMode === 0 ? 0 : formatMode === 1 ? Math.min(1, params.length) : params.length;
    return fc.array(fmt, { minLength: count, maxLength: count }).map((paramFormats) =>
      gen(ser.bind({ portal, statement, params, paramFormats, resultFormats }), {
        type: 'Bind',
        portal,
        statement,
        params,
        paramFormats,
        resultFormats,
      }),
    );
  }),
  fc.tuple(kind, cstr()).map(([k, name]) => gen(ser.describe(k, name), { type: 'Describe', kind: k, name })),
  fc.tuple(kind, cstr()).map(([k, name]) => gen(ser.close(k, name), { type: 'Close', kind: k, name })),
  fc.tuple(cstr(), fc.integer({ min: 0, max: 0x7fffffff })).map(([portal, maxRows]) => gen(ser.execute(portal, maxRows), { type: 'Execute', portal, maxRows })),
  fc.constant(null).map(() => gen(ser.sync(), { type: 'Sync' })),
  fc.constant(null).map(() => gen(ser.flush(), { type: 'Flush' })),
  bytes(200).map((data) => gen(ser.copyData(data), { type: 'CopyData', data })),
  fc.constant(null).map(() => gen(ser.copyDone(), { type: 'CopyDone' })),
  cstr().map((message) => gen(ser.copyFail(message), { type: 'CopyFail', message })),
  cstr().map((pw) => gen(ser.passwordMessage(pw), { type: 'Password', data: Buffer.from(`${pw}\0`, 'utf8') })),
  bytes().map((data) => gen(ser.saslResponse(data), { type: 'Password', data })),
  fc
    .tuple(uint32, fc.array(value, { maxLength: 4 }), fmt)
    .map(([oid, args, resultFormat]) => gen(ser.functionCall(oid, args, [], resultFormat), { type: 'FunctionCall', functionOid: oid, args, argFormats: [], resultFormat })),
);

const paramName = cstr(20).filter((s) => s !== '' && s !== 'user');

export const startupMessage: fc.Arbitrary<Generated> = fc.tuple(cstr(30), fc.uniqueArray(fc.tuple(paramName, cstr(30)), { selector: ([k]) => k, maxLength: 5 })).map(([user, extra]) => {
  const params = new Map<string, string>([['user', user], ...extra]);
  return gen(ser.startupMessage(params), { type: 'StartupMessage', params, protocolVersion: 196608 });
});

export const untypedRequest: fc.Arbitrary<Generated> = fc.oneof(
  fc.constant(null).map(() => gen(ser.sslRequest(), { type: 'SSLRequest' })),
  fc.constant(null).map(() => gen(ser.gssencRequest(), { type: 'GSSENCRequest' })),
  fc.tuple(int32, int32).map(([processId, secretKey]) => gen(ser.cancelRequest(processId, secretKey), { type: 'CancelRequest', processId, secretKey })),
);

const severity = fc.constantFrom<ser.ErrorFields['severity']>('ERROR', 'FATAL', 'WARNING', 'NOTICE', 'INFO');
const sqlstate = fc.stringMatching(/^[0-9A-Z]{5}$/);
const errorFields = fc.record({ severity, code: sqlstate, message: cstr(80), detail: cstr(), hint: cstr() }, { requiredKeys: ['severity', 'code', 'message'] });

const field = fc.record({
  name: cstr(20),
  tableOid: uint32,
  attnum: fc.integer({ min: -32768, max: 32767 }),
  typeOid: uint32,
  typeLen: fc.integer({ min: -32768, max: 32767 }),
  typeMod: int32,
  format: fmt,
});

/** Messages a server sends, checked through decodeBackend. */
export const backendMessage: fc.Arbitrary<Generated> = fc.oneof(
  fc.constant(null).map(() => gen(ser.authenticationOk(), { type: 'Authentication', auth: { kind: 'Ok' } })),
  fc.constant(null).map(() => gen(ser.authenticationCleartextPassword(), { type: 'Authentication', auth: { kind: 'CleartextPassword' } })),
  bytes(4)
    .filter((b) => b.length === 4)
    .map((salt) => gen(ser.authenticationMD5Password(salt), { type: 'Authentication', auth: { kind: 'MD5Password', salt } })),
  fc
    .array(
      cstr(20).filter((s) => s !== ''),
      { maxLength: 3 },
    )
    .map((mechanisms) => gen(ser.authenticationSASL(mechanisms), { type: 'Authentication', auth: { kind: 'SASL', mechanisms } })),
  bytes().map((data) => gen(ser.authenticationSASLContinue(data), { type: 'Authentication', auth: { kind: 'SASLContinue', data } })),
  bytes().map((data) => gen(ser.authenticationSASLFinal(data), { type: 'Authentication', auth: { kind: 'SASLFinal', data } })),
  fc.tuple(cstr(), cstr()).map(([name, v]) => gen(ser.parameterStatus(name, v), { type: 'ParameterStatus', name, value: v })),
  fc.tuple(int32, int32).map(([processId, secretKey]) => gen(ser.backendKeyData(processId, secretKey), { type: 'BackendKeyData', processId, secretKey })),
  fc.constantFrom<'I' | 'T' | 'E'>('I', 'T', 'E').map((status) => gen(ser.readyForQuery(status), { type: 'ReadyForQuery', status })),
  fc.array(field, { maxLength: 5 }).map((fields) => gen(ser.rowDescription(fields), { type: 'RowDescription', fields })),
  fc.array(value, { maxLength: 8 }).map((values) => gen(ser.dataRow(values), { type: 'DataRow', values })),
  cstr().map((tag) => gen(ser.commandComplete(tag), { type: 'CommandComplete', tag })),
  errorFields.map((f) => gen(ser.errorResponse(f), { type: 'ErrorResponse', error: expect(f) })),
  errorFields.map((f) => gen(ser.noticeResponse(f), { type: 'NoticeResponse', error: expect(f) })),
  fc.tuple(fmt, fc.array(fmt, { maxLength: 5 })).map(([o, cols]) => gen(ser.copyOutResponse(o, cols), { type: 'CopyOutResponse', copy: { overallFormat: o, columnFormats: cols } })),
  fc.tuple(fmt, fc.array(fmt, { maxLength: 5 })).map(([o, cols]) => gen(ser.copyInResponse(o, cols), { type: 'CopyInResponse', copy: { overallFormat: o, columnFormats: cols } })),
  fc.tuple(fmt, fc.array(fmt, { maxLength: 5 })).map(([o, cols]) => gen(ser.copyBothResponse(o, cols), { type: 'CopyBothResponse', copy: { overallFormat: o, columnFormats: cols } })),
  bytes(200).map((data) => gen(ser.copyData(data), { type: 'CopyData', data })),
  fc.constant(null).map(() => gen(ser.copyDone(), { type: 'CopyDone' })),
  fc.tuple(int32, cstr(), cstr()).map(([processId, channel, payload]) => gen(ser.notificationResponse(processId, channel, payload), { type: 'NotificationResponse', processId, channel, payload })),
  fc.array(uint32, { maxLength: 6 }).map((paramTypes) => gen(ser.parameterDescription(paramTypes), { type: 'ParameterDescription', paramTypes })),
  fc
    .constantFrom(
      ['EmptyQueryResponse', ser.emptyQueryResponse] as const,
      ['ParseComplete', ser.parseComplete] as const,
      ['BindComplete', ser.bindComplete] as const,
      ['CloseComplete', ser.closeComplete] as const,
      ['PortalSuspended', ser.portalSuspended] as const,
      ['NoData', ser.noData] as const,
    )
    .map(([type, build]) => gen(build(), { type })),
);

/** The decoded error view a builder's fields must produce. */
function expect(f: ser.ErrorFields): Record<string, unknown> {
  const out: Record<string, unknown> = { severity: f.severity, code: f.code, message: f.message };
  if (f.detail !== undefined) out.detail = f.detail;
  if (f.hint !== undefined) out.hint = f.hint;
  return out;
}

/** Split `buf` at arbitrary points, including empty chunks. */
export function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length === 0 ? 0 : c % (buf.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

export const cuts = fc.array(fc.nat(), { maxLength: 12 });
