/**
 * Incremental parser for what a PostgreSQL server sends (protocol v3). Framing is eager and copies
 * nothing when a frame lies inside one chunk; decoding is lazy, so forwarding a DataRow the gateway
 * does not need to look at costs no allocation beyond the frame view. Values stay Buffers: results
 * may be binary, and converting them to strings (as pg-protocol does) would corrupt them.
 */
import { BodyReader, ChunkQueue, violation } from './frames.ts';

export const BackendCodes = {
  Authentication: 'R',
  ParameterStatus: 'S',
  BackendKeyData: 'K',
  ReadyForQuery: 'Z',
  RowDescription: 'T',
  DataRow: 'D',
  CommandComplete: 'C',
  ErrorResponse: 'E',
  NoticeResponse: 'N',
  EmptyQueryResponse: 'I',
  ParseComplete: '1',
  BindComplete: '2',
  CloseComplete: '3',
  PortalSuspended: 's',
  NoData: 'n',
  ParameterDescription: 't',
  CopyInResponse: 'G',
  CopyOutResponse: 'H',
  CopyBothResponse: 'W',
  CopyData: 'd',
  CopyDone: 'c',
  NotificationResponse: 'A',
  NegotiateProtocolVersion: 'v',
  FunctionCallResponse: 'V',
} as const;

export type BackendMessageType = keyof typeof BackendCodes;

const TYPE_BY_CODE = new Map<string, BackendMessageType>(Object.entries(BackendCodes).map(([type, code]) => [code, type as BackendMessageType]));

/** One complete server message: `raw` is the whole frame, `body` the bytes after the length. */
export interface BackendFrame {
  type: BackendMessageType;
  code: string;
  raw: Buffer;
  body: Buffer;
}

export interface BackendParserOptions {
  /** Ceiling for one message (a DataRow with a large value is the usual big one). Default 64 MiB. */
  maxMessageBytes?: number;
}

export class BackendParser {
  private readonly queue = new ChunkQueue();
  private readonly maxMessage: number;

  constructor(opts: BackendParserOptions = {}) {
    this.maxMessage = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  }

  get buffered(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  drain(): Buffer {
    return this.queue.drain();
  }

  next(): BackendFrame | undefined {
    const first = this.queue.byteAt(0);
    if (first === -1) return undefined;
    const code = String.fromCharCode(first);
    const type = TYPE_BY_CODE.get(code);
    if (type === undefined) {
      throw violation(`unknown backend message type 0x${first.toString(16).padStart(2, '0')}`);
    }
    const length = this.queue.int32At(1);
    if (length === undefined) return undefined;
    if (length < 4) throw violation(`backend message '${code}' has invalid length ${length}`);
    if (length > this.maxMessage) {
      throw violation(`backend message '${code}' of ${length} bytes exceeds the limit of ${this.maxMessage} bytes`);
    }
    if (this.queue.length < length + 1) return undefined;
    const raw = this.queue.take(length + 1);
    return { type, code, raw, body: raw.subarray(5) };
  }

  parse(chunk: Buffer): BackendFrame[] {
    this.push(chunk);
    const out: BackendFrame[] = [];
    for (let m = this.next(); m; m = this.next()) out.push(m);
    return out;
  }
}

// ---- lazy decoders -------------------------------------------------------------------------

export interface FieldDescription {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeLen: number;
  typeMod: number;
  format: number;
}

export function decodeRowDescription(body: Buffer): FieldDescription[] {
  const r = new BodyReader(body, 'RowDescription');
  const n = r.count16('field count', 19);
  const fields = new Array<FieldDescription>(n);
  for (let i = 0; i < n; i++) {
    const name = r.cstring('field name');
    const tableOid = r.uint32('table oid');
    const attnum = r.int16('column number');
    const typeOid = r.uint32('type oid');
    const typeLen = r.int16('type length');
    const typeMod = r.int32('type modifier');
    const format = r.int16('format');
    if (format !== 0 && format !== 1) throw violation(`RowDescription: format ${format} of "${name}" is invalid`);
    fields[i] = { name, tableOid, attnum, typeOid, typeLen, typeMod, format };
  }
  r.end();
  return fields;
}

export function decodeDataRow(body: Buffer): (Buffer | null)[] {
  const r = new BodyReader(body, 'DataRow');
  const n = r.count16('column count', 4);
  const out = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) out[i] = r.nullableBytes(`column ${i + 1}`);
  r.end();
  return out;
}

/** Field codes of ErrorResponse / NoticeResponse, by their documented one-letter tag. */
export const ErrorFieldCodes = {
  severity: 'S',
  severityNonLocalized: 'V',
  code: 'C',
  message: 'M',
  detail: 'D',
  hint: 'H',
  position: 'P',
  internalPosition: 'p',
  internalQuery: 'q',
  where: 'W',
  schema: 's',
  table: 't',
  column: 'c',
  dataType: 'd',
  constraint: 'n',
  file: 'F',
  line: 'L',
  routine: 'R',
} as const;

/** Fields keyed by their one-letter tag ('S', 'C', 'M', ...). */
export function decodeErrorFields(body: Buffer, what = 'ErrorResponse'): Map<string, string> {
  const r = new BodyReader(body, what);
  const fields = new Map<string, string>();
  for (;;) {
    const tag = r.int8('field type');
    if (tag === 0) break;
    fields.set(String.fromCharCode(tag), r.cstring('field value'));
  }
  r.end();
  return fields;
}

export interface ErrorInfo {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  fields: Map<string, string>;
}

/** The usual view of an ErrorResponse or NoticeResponse. */
export function decodeError(body: Buffer, what = 'ErrorResponse'): ErrorInfo {
  const fields = decodeErrorFields(body, what);
  const info: ErrorInfo = {
    severity: fields.get('V') ?? fields.get('S') ?? 'ERROR',
    code: fields.get('C') ?? 'XX000',
    message: fields.get('M') ?? '',
    fields,
  };
  const detail = fields.get('D');
  const hint = fields.get('H');
  if (detail !== undefined) info.detail = detail;
  if (hint !== undefined) info.hint = hint;
  return info;
}

export function decodeCommandComplete(body: Buffer): string {
  const r = new BodyReader(body, 'CommandComplete');
  const tag = r.cstring('command tag');
  r.end();
  return tag;
}

export type TransactionStatus = 'I' | 'T' | 'E';

export function decodeReadyForQuery(body: Buffer): TransactionStatus {
  const r = new BodyReader(body, 'ReadyForQuery');
  const s = String.fromCharCode(r.int8('transaction status'));
  r.end();
  if (s !== 'I' && s !== 'T' && s !== 'E') throw violation(`ReadyForQuery: unknown transaction status '${s}'`);
  return s;
}

export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new BodyReader(body, 'ParameterStatus');
  const name = r.cstring('name');
  const value = r.cstring('value');
  r.end();
  return { name, value };
}

export function decodeBackendKeyData(body: Buffer): { processId: number; secretKey: number } {
  const r = new BodyReader(body, 'BackendKeyData');
  const processId = r.int32('process id');
  const secretKey = r.int32('secret key');
  r.end();
  return { processId, secretKey };
}

export type Authentication =
  | { kind: 'Ok' }
  | { kind: 'KerberosV5' }
  | { kind: 'CleartextPassword' }
  | { kind: 'MD5Password'; salt: Buffer }
  | { kind: 'GSS' }
  | { kind: 'GSSContinue'; data: Buffer }
  | { kind: 'SSPI' }
  | { kind: 'SASL'; mechanisms: string[] }
  | { kind: 'SASLContinue'; data: Buffer }
  | { kind: 'SASLFinal'; data: Buffer };

export function decodeAuthentication(body: Buffer): Authentication {
  const r = new BodyReader(body, 'Authentication');
  const sub = r.int32('authentication type');
  let out: Authentication;
  switch (sub) {
    case 0:
      out = { kind: 'Ok' };
      break;
    case 2:
      out = { kind: 'KerberosV5' };
      break;
    case 3:
      out = { kind: 'CleartextPassword' };
      break;
    case 5:
      out = { kind: 'MD5Password', salt: r.bytes(4, 'salt') };
      break;
    case 7:
      out = { kind: 'GSS' };
      break;
    case 8:
      out = { kind: 'GSSContinue', data: r.rest() };
      break;
    case 9:
      out = { kind: 'SSPI' };
      break;
    case 10: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring('SASL mechanism');
        if (m === '') break;
        mechanisms.push(m);
      }
      out = { kind: 'SASL', mechanisms };
      break;
    }
    case 11:
      out = { kind: 'SASLContinue', data: r.rest() };
      break;
    case 12:
      out = { kind: 'SASLFinal', data: r.rest() };
      break;
    default:
      throw violation(`unknown authentication request type ${sub}`);
  }
  r.end();
  return out;
}

export interface CopyResponse {
  overallFormat: number;
  columnFormats: number[];
}

export function decodeCopyResponse(body: Buffer, what = 'CopyResponse'): CopyResponse {
  const r = new BodyReader(body, what);
  const overallFormat = r.int8('overall format');
  if (overallFormat !== 0 && overallFormat !== 1) throw violation(`${what}: overall format ${overallFormat} is invalid`);
  const n = r.count16('column count', 2);
  const columnFormats = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const f = r.int16('column format');
    if (f !== 0 && f !== 1) throw violation(`${what}: column format ${f} is invalid`);
    columnFormats[i] = f;
  }
  r.end();
  return { overallFormat, columnFormats };
}

export function decodeNotification(body: Buffer): { processId: number; channel: string; payload: string } {
  const r = new BodyReader(body, 'NotificationResponse');
  const processId = r.int32('process id');
  const channel = r.cstring('channel');
  const payload = r.cstring('payload');
  r.end();
  return { processId, channel, payload };
}

export function decodeParameterDescription(body: Buffer): number[] {
  const r = new BodyReader(body, 'ParameterDescription');
  const n = r.count16('parameter count', 4);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = r.uint32('parameter type');
  r.end();
  return out;
}

export function decodeNegotiateProtocolVersion(body: Buffer): { minorVersion: number; unrecognized: string[] } {
  const r = new BodyReader(body, 'NegotiateProtocolVersion');
  const minorVersion = r.int32('minor version');
  const n = r.int32('option count');
  if (n < 0 || n > r.remaining) throw violation(`NegotiateProtocolVersion: option count ${n} overruns the message`);
  const unrecognized: string[] = [];
  for (let i = 0; i < n; i++) unrecognized.push(r.cstring('option name'));
  r.end();
  return { minorVersion, unrecognized };
}

export function decodeFunctionCallResponse(body: Buffer): Buffer | null {
  const r = new BodyReader(body, 'FunctionCallResponse');
  const v = r.nullableBytes('result');
  r.end();
  return v;
}

/** Messages that carry no body: a non-empty one is malformed. */
export function expectEmpty(frame: BackendFrame): void {
  if (frame.body.length !== 0) throw violation(`${frame.type} must have an empty body`);
}

export type DecodedBackendMessage =
  | { type: 'Authentication'; auth: Authentication }
  | { type: 'ParameterStatus'; name: string; value: string }
  | { type: 'BackendKeyData'; processId: number; secretKey: number }
  | { type: 'ReadyForQuery'; status: TransactionStatus }
  | { type: 'RowDescription'; fields: FieldDescription[] }
  | { type: 'DataRow'; values: (Buffer | null)[] }
  | { type: 'CommandComplete'; tag: string }
  | { type: 'ErrorResponse' | 'NoticeResponse'; error: ErrorInfo }
  | { type: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse'; copy: CopyResponse }
  | { type: 'CopyData'; data: Buffer }
  | { type: 'NotificationResponse'; processId: number; channel: string; payload: string }
  | { type: 'ParameterDescription'; paramTypes: number[] }
  | { type: 'NegotiateProtocolVersion'; minorVersion: number; unrecognized: string[] }
  | { type: 'FunctionCallResponse'; result: Buffer | null }
  | {
      type: 'EmptyQueryResponse' | 'ParseComplete' | 'BindComplete' | 'CloseComplete' | 'PortalSuspended' | 'NoData' | 'CopyDone';
    };

/** Full decode of a frame; use the specific decoders on hot paths. */
export function decodeBackend(frame: BackendFrame): DecodedBackendMessage {
  const b = frame.body;
  switch (frame.type) {
    case 'Authentication':
      return { type: 'Authentication', auth: decodeAuthentication(b) };
    case 'ParameterStatus':
      return { type: 'ParameterStatus', ...decodeParameterStatus(b) };
    case 'BackendKeyData':
      return { type: 'BackendKeyData', ...decodeBackendKeyData(b) };
    case 'ReadyForQuery':
      return { type: 'ReadyForQuery', status: decodeReadyForQuery(b) };
    case 'RowDescription':
      return { type: 'RowDescription', fields: decodeRowDescription(b) };
    case 'DataRow':
      return { type: 'DataRow', values: decodeDataRow(b) };
    case 'CommandComplete':
      return { type: 'CommandComplete', tag: decodeCommandComplete(b) };
    case 'ErrorResponse':
    case 'NoticeResponse':
      return { type: frame.type, error: decodeError(b, frame.type) };
    case 'CopyInResponse':
    case 'CopyOutResponse':
    case 'CopyBothResponse':
      return { type: frame.type, copy: decodeCopyResponse(b, frame.type) };
    case 'CopyData':
      return { type: 'CopyData', data: b };
    case 'NotificationResponse':
      return { type: 'NotificationResponse', ...decodeNotification(b) };
    case 'ParameterDescription':
      return { type: 'ParameterDescription', paramTypes: decodeParameterDescription(b) };
    case 'NegotiateProtocolVersion':
      return { type: 'NegotiateProtocolVersion', ...decodeNegotiateProtocolVersion(b) };
    case 'FunctionCallResponse':
      return { type: 'FunctionCallResponse', result: decodeFunctionCallResponse(b) };
    case 'EmptyQueryResponse':
    case 'ParseComplete':
    case 'BindComplete':
    case 'CloseComplete':
    case 'PortalSuspended':
    case 'NoData':
    case 'CopyDone':
      expectEmpty(frame);
      return { type: frame.type };
  }
}
