/**
 * Incremental parser for what a PostgreSQL client sends (protocol v3). Every message keeps its raw
 * bytes so the gateway can forward exactly what it analysed, never a re-encoding of it.
 */
import { BodyReader, ChunkQueue, notAStartupPacket, violation } from './frames.ts';

export const PROTOCOL_VERSION_3 = 196608; // 3 << 16
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

export type FrontendMessage =
  | { type: 'StartupMessage'; protocolVersion: number; params: Map<string, string>; raw: Buffer }
  | { type: 'SSLRequest'; raw: Buffer }
  | { type: 'GSSENCRequest'; raw: Buffer }
  | { type: 'CancelRequest'; processId: number; secretKey: number; raw: Buffer }
  | { type: 'Query'; code: 'Q'; sql: string; raw: Buffer }
  | { type: 'Parse'; code: 'P'; name: string; query: string; paramTypes: number[]; raw: Buffer }
  | {
      type: 'Bind';
      code: 'B';
      portal: string;
      statement: string;
      paramFormats: number[];
      params: (Buffer | null)[];
      resultFormats: number[];
      raw: Buffer;
    }
  | { type: 'Describe'; code: 'D'; kind: 'S' | 'P'; name: string; raw: Buffer }
  | { type: 'Execute'; code: 'E'; portal: string; maxRows: number; raw: Buffer }
  | { type: 'Sync'; code: 'S'; raw: Buffer }
  | { type: 'Flush'; code: 'H'; raw: Buffer }
  | { type: 'Close'; code: 'C'; kind: 'S' | 'P'; name: string; raw: Buffer }
  | { type: 'Terminate'; code: 'X'; raw: Buffer }
  | { type: 'CopyData'; code: 'd'; data: Buffer; raw: Buffer }
  | { type: 'CopyDone'; code: 'c'; raw: Buffer }
  | { type: 'CopyFail'; code: 'f'; message: string; raw: Buffer }
  /** PasswordMessage, SASLInitialResponse and SASLResponse share 'p'; only the auth state tells them apart. */
  | { type: 'Password'; code: 'p'; data: Buffer; raw: Buffer }
  | {
      type: 'FunctionCall';
      code: 'F';
      functionOid: number;
      argFormats: number[];
      args: (Buffer | null)[];
      resultFormat: number;
      raw: Buffer;
    };

export type FrontendMessageType = FrontendMessage['type'];

export interface FrontendParserOptions {
  /** Ceiling for Query, Parse, Bind, CopyData and FunctionCall. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Ceiling for the other typed messages (Sync, Describe, Password...). Default 1 MiB. */
  maxControlBytes?: number;
  /** Ceiling for untyped startup-phase packets; PostgreSQL itself allows 10000. */
  maxStartupBytes?: number;
  /** Begin in the typed-message phase, e.g. when the startup was handled elsewhere. */
  skipStartup?: boolean;
}

const LARGE_CODES = new Set(['Q', 'P', 'B', 'd', 'F']);
const KNOWN_CODES = new Set(['Q', 'P', 'B', 'D', 'E', 'S', 'H', 'C', 'X', 'd', 'c', 'f', 'p', 'F']);

type Phase = 'startup' | 'messages' | 'closed';

export class FrontendParser {
  private readonly queue = new ChunkQueue();
  private phaseNow: Phase;
  private readonly maxMessage: number;
  private readonly maxControl: number;
  private readonly maxStartup: number;

  constructor(opts: FrontendParserOptions = {}) {
    this.maxMessage = opts.maxMessageBytes ?? 64 * 1024 * 1024;
    this.maxControl = opts.maxControlBytes ?? 1024 * 1024;
    this.maxStartup = opts.maxStartupBytes ?? 10_000;
    this.phaseNow = opts.skipStartup ? 'messages' : 'startup';
  }

  /** 'startup' until a StartupMessage; 'closed' after a CancelRequest or Terminate. */
  get phase(): Phase {
    return this.phaseNow;
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** Bytes not yet parsed, e.g. to hand to another consumer; the parser is left empty. */
  drain(): Buffer {
    return this.queue.drain();
  }

  /** The next complete message, or undefined until more bytes arrive. */
  next(): FrontendMessage | undefined {
    if (this.phaseNow === 'closed') {
      if (this.queue.length > 0) throw violation('client sent data after ending the connection');
      return undefined;
    }
    return this.phaseNow === 'startup' ? this.nextStartup() : this.nextTyped();
  }

  /** Push a chunk and return every message it completed. */
  parse(chunk: Buffer): FrontendMessage[] {
    this.push(chunk);
    const out: FrontendMessage[] = [];
    for (let m = this.next(); m; m = this.next()) out.push(m);
    return out;
  }

  private nextStartup(): FrontendMessage | undefined {
    const length = this.queue.int32At(0);
    if (length === undefined) return undefined;
    if (length < 8) throw notAStartupPacket(`startup packet length ${length} is too short`);
    if (length > this.maxStartup) {
      throw notAStartupPacket(`startup packet length ${length} exceeds the limit of ${this.maxStartup} bytes`);
    }
    if (this.queue.length < length) return undefined;
    const code = this.queue.int32At(4)!;
    const raw = this.queue.take(length);
    const body = new BodyReader(raw.subarray(8), 'startup packet');
    switch (code) {
      case SSL_REQUEST_CODE:
      case GSSENC_REQUEST_CODE: {
        body.end();
        // Bytes behind an encryption request were sent before the answer and would bypass TLS
        // (CVE-2021-23214): a conforming client waits for the one-byte reply.
        if (this.queue.length > 0) throw violation('client sent unencrypted data after an encryption request');
        return code === SSL_REQUEST_CODE ? { type: 'SSLRequest', raw } : { type: 'GSSENCRequest', raw };
      }
      case CANCEL_REQUEST_CODE: {
        const processId = body.int32('process id');
        const secretKey = body.int32('secret key');
        body.end();
        this.phaseNow = 'closed';
        return { type: 'CancelRequest', processId, secretKey, raw };
      }
      default: {
        if (code >> 16 !== 3) {
          throw violation(`unsupported frontend protocol ${code >> 16}.${code & 0xffff}: only 3.x is spoken`);
        }
        const params = new Map<string, string>();
        for (;;) {
          const name = body.cstring('parameter name');
          if (name === '') break;
          if (params.has(name)) throw violation(`startup packet repeats parameter "${name}"`);
          params.set(name, body.cstring(`value of parameter "${name}"`));
        }
        body.end();
        if (!params.has('user')) throw violation('startup packet has no "user" parameter');
        this.phaseNow = 'messages';
        return { type: 'StartupMessage', protocolVersion: code, params, raw };
      }
    }
  }

  private nextTyped(): FrontendMessage | undefined {
    const first = this.queue.byteAt(0);
    if (first === -1) return undefined;
    const code = String.fromCharCode(first);
    if (!KNOWN_CODES.has(code)) {
      throw violation(`unknown frontend message type 0x${first.toString(16).padStart(2, '0')}`);
    }
    const length = this.queue.int32At(1);
    if (length === undefined) return undefined;
    if (length < 4) throw violation(`message '${code}' has invalid length ${length}`);
    const limit = LARGE_CODES.has(code) ? this.maxMessage : this.maxControl;
    if (length > limit) throw violation(`message '${code}' of ${length} bytes exceeds the limit of ${limit} bytes`);
    if (this.queue.length < length + 1) return undefined;
    const raw = this.queue.take(length + 1);
    const msg = decodeFrontend(code, raw);
    if (msg.type === 'Terminate') this.phaseNow = 'closed';
    return msg;
  }
}

function describeKind(r: BodyReader, what: string): 'S' | 'P' {
  const k = r.int8('kind');
  if (k === 0x53) return 'S';
  if (k === 0x50) return 'P';
  throw violation(`${what}: kind must be 'S' or 'P', got 0x${k.toString(16)}`);
}

function formats(r: BodyReader, field: string): number[] {
  const n = r.count16(`${field} count`, 2);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const f = r.int16(field);
    if (f !== 0 && f !== 1) throw violation(`${field} ${f} is neither text (0) nor binary (1)`);
    out[i] = f;
  }
  return out;
}

function values(r: BodyReader, field: string): (Buffer | null)[] {
  const n = r.count16(`${field} count`, 4);
  const out = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) out[i] = r.nullableBytes(`${field} ${i + 1}`);
  return out;
}

/** Not a closure inside decodeFrontend: a named closure per message costs a defineProperty (keepNames). */
function empty(body: Buffer, what: string): void {
  if (body.length !== 0) throw violation(`${what} must have an empty body`);
}

/** Decode one complete typed frame (code byte, length, body). */
export function decodeFrontend(code: string, raw: Buffer): FrontendMessage {
  const body = raw.subarray(5);
  switch (code) {
    case 'Q': {
      const r = new BodyReader(body, 'Query');
      const sql = r.cstring('query string');
      r.end();
      return { type: 'Query', code, sql, raw };
    }
    case 'P': {
      const r = new BodyReader(body, 'Parse');
      const name = r.cstring('statement name');
      const query = r.cstring('query string');
      const n = r.count16('parameter type count', 4);
      const paramTypes = new Array<number>(n);
      for (let i = 0; i < n; i++) paramTypes[i] = r.uint32('parameter type');
      r.end();
      return { type: 'Parse', code, name, query, paramTypes, raw };
    }
    case 'B': {
      const r = new BodyReader(body, 'Bind');
      const portal = r.cstring('portal name');
      const statement = r.cstring('statement name');
      const paramFormats = formats(r, 'parameter format');
      const params = values(r, 'parameter');
      if (paramFormats.length > 1 && paramFormats.length !== params.length) {
        throw violation(`Bind: ${paramFormats.length} parameter formats for ${params.length} parameters`);
      }
      const resultFormats = formats(r, 'result format');
      r.end();
      return { type: 'Bind', code, portal, statement, paramFormats, params, resultFormats, raw };
    }
    case 'D': {
      const r = new BodyReader(body, 'Describe');
      const kind = describeKind(r, 'Describe');
      const name = r.cstring('name');
      r.end();
      return { type: 'Describe', code, kind, name, raw };
    }
    case 'E': {
      const r = new BodyReader(body, 'Execute');
      const portal = r.cstring('portal name');
      const maxRows = r.int32('row limit');
      r.end();
      if (maxRows < 0) throw violation(`Execute: negative row limit ${maxRows}`);
      return { type: 'Execute', code, portal, maxRows, raw };
    }
    case 'C': {
      const r = new BodyReader(body, 'Close');
      const kind = describeKind(r, 'Close');
      const name = r.cstring('name');
      r.end();
      return { type: 'Close', code, kind, name, raw };
    }
    case 'S':
      empty(body, 'Sync');
      return { type: 'Sync', code, raw };
    case 'H':
      empty(body, 'Flush');
      return { type: 'Flush', code, raw };
    case 'X':
      empty(body, 'Terminate');
      return { type: 'Terminate', code, raw };
    case 'c':
      empty(body, 'CopyDone');
      return { type: 'CopyDone', code, raw };
    case 'd':
      return { type: 'CopyData', code, data: body, raw };
    case 'f': {
      const r = new BodyReader(body, 'CopyFail');
      const message = r.cstring('error message');
      r.end();
      return { type: 'CopyFail', code, message, raw };
    }
    case 'p':
      return { type: 'Password', code, data: body, raw };
    case 'F': {
      const r = new BodyReader(body, 'FunctionCall');
      const functionOid = r.uint32('function oid');
      const argFormats = formats(r, 'argument format');
      const args = values(r, 'argument');
      if (argFormats.length > 1 && argFormats.length !== args.length) {
        throw violation(`FunctionCall: ${argFormats.length} argument formats for ${args.length} arguments`);
      }
      const resultFormat = r.int16('result format');
      r.end();
      if (resultFormat !== 0 && resultFormat !== 1) throw violation(`FunctionCall: result format ${resultFormat} is invalid`);
      return { type: 'FunctionCall', code, functionOid, argFormats, args, resultFormat, raw };
    }
    default:
      throw violation(`unknown frontend message type '${code}'`);
  }
}

/** The body of a 'p' sent in answer to AuthenticationCleartextPassword or AuthenticationMD5Password. */
export function decodePasswordMessage(data: Buffer): string {
  const r = new BodyReader(data, 'PasswordMessage');
  const password = r.cstring('password');
  r.end();
  return password;
}

/** The body of a 'p' sent in answer to AuthenticationSASL. */
export function decodeSASLInitialResponse(data: Buffer): { mechanism: string; initial: Buffer | null } {
  const r = new BodyReader(data, 'SASLInitialResponse');
  const mechanism = r.cstring('mechanism');
  const initial = r.nullableBytes('initial response');
  r.end();
  return { mechanism, initial };
}
