/**
 * Masking a whole response body. A target with masks gets its bodies buffered (up to the limit),
 * decoded (gzip, deflate, br), parsed, masked and re-serialised with a correct Content-Length and
 * no Content-Encoding. What cannot be parsed cannot be proven masked, so it is refused (502),
 * unless the target lists the content type in `passUnmaskedContentTypes` — and even then a body
 * that is really JSON (a content type that lies) is masked as JSON, never passed through.
 */
import { parseExact, type ExactJson } from './exact-numbers.ts';
import type { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { PortcullisError } from '../../errors.ts';
import { mediaType } from '../headers.ts';
import { scrubText } from './values.ts';
import type { Detector } from '../../masking/detectors.ts';

/** Masks a parsed JSON value in place: the JSON masker, plus protocol rules such as Secret data. */
export type ValueTransform = (value: unknown) => { value: unknown; count: number };

export interface BodyMaskPolicy {
  target: string;
  transform: ValueTransform;
  /** a content mask applies: text gets the shared detectors */
  scrub: boolean;
  /** the detectors the content masks name (all of them when absent) */
  detectors?: ReadonlySet<Detector>;
  /** final member names of field masks: a text body that carries `"name":` may be JSON in disguise */
  fieldNames: readonly string[];
  passUnmaskedContentTypes: readonly string[];
  /** plain text the protocol defines as safe to scrub line by line (Kubernetes logs) */
  textIsExpected?: boolean;
  limit: number;
}

export interface MaskedBody {
  body: Buffer;
  count: number;
}

function refuse(target: string, message: string, cause?: unknown): PortcullisError {
  return new PortcullisError('protocol_violation', `target ${target}: ${message}; the response is withheld because it cannot be masked`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { status: 502 },
  });
}

/** Read a stream into memory, refusing past `limit` bytes (before reading when the length says so). */
export async function readLimited(body: AsyncIterable<Buffer | Uint8Array | string>, limit: number, target: string): Promise<Buffer> {
  const stream = body as Partial<Readable>;
  // A Node stream (undici's body) is read by its events: an async iterator costs promises per chunk.
  if (typeof stream.on === 'function' && typeof stream.destroy === 'function') return readStream(stream as Readable, limit, target);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    size += b.length;
    if (size > limit) throw tooLarge(target, limit);
    parts.push(b);
  }
  return Buffer.concat(parts, size);
}

function readStream(stream: Readable, limit: number, target: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    new LimitedRead(stream, limit, target, resolve, reject);
  });
}

/**
 * One stream read to its end within a limit. A class with listeners assigned in the constructor:
 * tsx compiles with keepNames, so named closures made per call cost an Object.defineProperty each.
 */
class LimitedRead {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private readonly onData: (chunk: Buffer | Uint8Array | string) => void;
  private readonly onEnd: () => void;
  private readonly onError: (error: Error) => void;
  private readonly onClose: () => void;

  constructor(
    private readonly stream: Readable,
    private readonly limit: number,
    private readonly target: string,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.onData = (chunk) => this.data(chunk);
    this.onEnd = () => this.done(undefined, this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size));
    this.onError = (error) => this.done(error);
    this.onClose = () => this.done(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
  }

  private data(chunk: Buffer | Uint8Array | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.size += b.length;
    if (this.size > this.limit) return this.done(tooLarge(this.target, this.limit));
    this.parts.push(b);
  }

  private done(error: unknown, value?: Buffer): void {
    const stream = this.stream;
    stream.off('data', this.onData);
    stream.off('end', this.onEnd);
    stream.off('error', this.onError);
    stream.off('close', this.onClose);
    if (error === undefined) this.resolve(value as Buffer);
    else {
      stream.on('error', () => {});
      stream.destroy();
      this.reject(error);
    }
  }
}

export function tooLarge(target: string, limit: number): PortcullisError {
  return new PortcullisError('resource_exhausted', `target ${target}: the response is larger than ${limit} bytes, the most the gateway masks`, {
    details: { status: 502, limit },
  });
}

/** Undo Content-Encoding (listed in the order applied); the output is bounded against bombs. */
export function decodeContent(buf: Buffer, encoding: string | undefined, limit: number, target: string): Buffer {
  if (encoding === undefined || encoding === '') return buf;
  const codings = (encoding ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s && s !== 'identity');
  let out = buf;
  for (const coding of codings.reverse()) {
    const opts = { maxOutputLength: limit };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') out = gunzipSync(out, opts);
      else if (coding === 'br') out = brotliDecompressSync(out, opts);
      else if (coding === 'deflate') {
        // deflate is zlib-wrapped by the RFC but raw in some servers; accept both
        try {
          out = inflateSync(out, opts);
        } catch {
          out = inflateRawSync(out, opts);
        }
      } else throw refuse(target, `the content encoding ${JSON.stringify(coding)} is not supported`);
    } catch (error) {
      if (error instanceof PortcullisError) throw error;
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(target, limit);
      throw refuse(target, `the ${coding} body could not be decoded`, error);
    }
  }
  return out;
}

export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

export function isJsonLinesType(type: string): boolean {
  return type === 'application/x-ndjson' || type === 'application/jsonl' || type === 'application/json-seq' || type === 'application/x-json-stream';
}

function listed(type: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => {
    const pt = p.trim().toLowerCase();
    return pt === type || pt === '*/*' || (pt.endsWith('/*') && type.startsWith(pt.slice(0, -1)));
  });
}

function text(buf: Buffer): string {
  const s = buf.toString('utf8');
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function maskJsonText(source: string, policy: BodyMaskPolicy): MaskedBody {
  let parsed: ExactJson;
  try {
    parsed = parseExact(source);
  } catch (error) {
    throw refuse(policy.target, 'the body is not valid JSON', error);
  }
  try {
    const { value, count } = policy.transform(parsed.value);
    return { body: Buffer.from(parsed.write(JSON.stringify(value) ?? 'null')), count };
  } catch (error) {
    // e.g. nesting deeper than the stack: fail closed
    throw refuse(policy.target, 'the JSON body could not be masked', error);
  }
}

/** One JSON document per line, each masked; a line that is not JSON ends the matter. */
export function maskJsonLines(source: string, policy: BodyMaskPolicy): MaskedBody {
  let count = 0;
  const out: string[] = [];
  for (const line of source.split('\n')) {
    const trimmed = line.trim().replace(/^\x1e/, '');
    if (trimmed === '') {
      out.push(line);
      continue;
    }
    const m = maskJsonText(trimmed, policy);
    count += m.count;
    out.push(m.body.toString('utf8'));
  }
  return { body: Buffer.from(out.join('\n')), count };
}

function looksLikeJson(source: string): boolean {
  return /^\s*[[{]/.test(source);
}

function guardFieldNames(source: string, policy: BodyMaskPolicy): void {
  for (const name of policy.fieldNames) {
    if (source.includes(`"${name}"`)) {
      throw refuse(policy.target, `a text body carries a masked field name (${JSON.stringify(name)}) outside a JSON document`);
    }
  }
}

function scrubPlain(source: string, policy: BodyMaskPolicy): MaskedBody {
  guardFieldNames(source, policy);
  if (!policy.scrub) return { body: Buffer.from(source), count: 0 };
  const { text: out, count } = scrubText(source, policy.detectors);
  return { body: Buffer.from(out), count };
}

/**
 * One line of expected text (a log line): a JSON line is masked as JSON, any other line is scrubbed
 * by the detectors, and a plain line naming a masked field is refused (it may be a fragment of a
 * pretty-printed document whose value the detectors cannot see).
 */
export function maskTextLine(line: string, policy: BodyMaskPolicy, jsonOnly = false): { line: string; count: number } {
  if (jsonOnly) {
    const m = maskJsonText(line, policy);
    return { line: m.body.toString('utf8'), count: m.count };
  }
  if (looksLikeJson(line)) {
    try {
      JSON.parse(line);
      const m = maskJsonText(line, policy);
      return { line: m.body.toString('utf8'), count: m.count };
    } catch {
      // not a JSON line after all: treat it as text
    }
  }
  const m = scrubPlain(line, policy);
  return { line: m.body.toString('utf8'), count: m.count };
}

function maskTextLines(source: string, policy: BodyMaskPolicy): MaskedBody {
  let count = 0;
  const out = source.split('\n').map((line) => {
    const m = maskTextLine(line, policy);
    count += m.count;
    return m.line;
  });
  return { body: Buffer.from(out.join('\n')), count };
}

/**
 * Mask a decoded body by what it is, not only by what it says it is. Returns the bytes to send.
 */
export function maskBody(decoded: Buffer, contentType: string | string[] | undefined, policy: BodyMaskPolicy): MaskedBody {
  if (decoded.length === 0) return { body: decoded, count: 0 };
  const type = mediaType(contentType);
  const source = text(decoded);
  if (isJsonType(type)) return maskJsonText(source, policy);
  if (isJsonLinesType(type)) return maskJsonLines(source, policy);
  const textual = type.startsWith('text/') || type === '';
  if (!policy.textIsExpected && !listed(type, policy.passUnmaskedContentTypes)) {
    throw refuse(policy.target, `it is ${type || 'untyped'}, not JSON, and the target does not list it in passUnmaskedContentTypes`);
  }
  if (policy.textIsExpected) return maskTextLines(source, policy);
  // A listed type: still never let JSON in disguise through unmasked.
  if (looksLikeJson(source)) {
    try {
      JSON.parse(source);
      return maskJsonText(source, policy);
    } catch {
      return maskJsonLines(source, policy);
    }
  }
  if (textual) return scrubPlain(source, policy);
  // a listed binary type: the detectors cannot read it, the policy said it may pass
  guardFieldNames(source, policy);
  return { body: decoded, count: 0 };
}
