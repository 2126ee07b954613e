/**
 * Writing the upstream's answer to the agent: streamed untouched when nothing needs masking,
 * buffered and masked when something might, masked line by line (NDJSON, watch, logs) or event by
 * event (SSE) for streams that may never end.
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import { PortcullisError } from '../errors.ts';
import { agentResponseHeaders, headerText, mediaType } from './headers.ts';
import { decodeContent, isJsonLinesType, maskBody, maskJsonLines, readLimited, type BodyMaskPolicy } from './masking/body.ts';
import { sseMasker } from './masking/sse-stream.ts';
import { lineMasker, type LineStreamStats } from './masking/line-stream.ts';
import type { Upstream } from './upstream.ts';

/** Headers that describe the exact bytes; masking changes the bytes, so they no longer hold. */
const REPRESENTATION = ['content-length', 'content-encoding', 'etag', 'content-md5', 'digest', 'content-digest', 'repr-digest', 'accept-ranges', 'content-range'];
const REPRESENTATION_SET: ReadonlySet<string> = new Set(REPRESENTATION);

/** Drop an upstream body we will not send; its abort error is expected and must not go unhandled. */
export function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

export function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** Location pointing into the upstream comes back pointing into the gateway, so the agent stays governed. */
export function rewriteLocation(location: string, up: Upstream): string {
  const prefix = `/${up.name}`;
  const base = up.basePath;
  if (location.startsWith(up.origin + base + '/') || location === up.origin + base) {
    return prefix + (location.slice(up.origin.length + base.length) || '/');
  }
  if (location.startsWith('/') && !location.startsWith('//') && (base === '' || location.startsWith(base + '/'))) {
    return prefix + location.slice(base.length);
  }
  return location;
}

function baseHeaders(res: Dispatcher.ResponseData, up: Upstream, withoutRepresentation = false) {
  const headers = agentResponseHeaders(res.headers as Record<string, string | string[] | undefined>, withoutRepresentation ? REPRESENTATION_SET : undefined);
  const location = headerText(res.headers['location']);
  if (location) headers['location'] = rewriteLocation(location, up);
  return headers;
}

/** What must settle before the first byte of an answer goes to the agent (a staged record's durability). */
export type Hold = () => Promise<void>;

export async function sendUnmasked(out: ServerResponse, res: Dispatcher.ResponseData, up: Upstream, method: string, hold?: Hold): Promise<void> {
  if (hold) await hold();
  out.writeHead(res.statusCode, baseHeaders(res, up));
  if (hasNoBody(method, res.statusCode)) {
    discard(res.body);
    out.end();
    return;
  }
  await pipeTo(res.body, out);
}

/**
 * stream.pipeline's contract for one source and the agent's response, without its per-call
 * AbortController and end-of-stream machinery (a measurable share of a small proxied request):
 * resolves when the response finished; an error on either side destroys both and rejects.
 */
export function pipeTo(src: Readable, out: ServerResponse): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    new Piped(src, out, resolve, reject).start();
  });
}

/**
 * pipeTo's state. Listeners are assigned in the constructor, not named closures: tsx compiles with
 * keepNames, which costs an Object.defineProperty for every named closure made per request.
 */
class Piped {
  private settled = false;
  private readonly onSrcError: (e: Error) => void;
  private readonly onOutError: (e: Error) => void;
  private readonly onFinish: () => void;
  private readonly onClose: () => void;

  constructor(
    private readonly src: Readable,
    private readonly out: ServerResponse,
    private readonly resolve: () => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.onSrcError = (e) => this.settle(e);
    this.onOutError = (e) => this.settle(e);
    this.onFinish = () => this.settle();
    this.onClose = () => this.settle(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  }

  start(): void {
    this.src.on('error', this.onSrcError);
    this.out.on('error', this.onOutError);
    this.out.on('finish', this.onFinish);
    this.out.on('close', this.onClose);
    this.src.pipe(this.out);
  }

  private settle(error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    const { src, out } = this;
    src.off('error', this.onSrcError);
    out.off('error', this.onOutError);
    out.off('finish', this.onFinish);
    out.off('close', this.onClose);
    if (!error) return this.resolve();
    src.on('error', () => {});
    src.unpipe(out);
    src.destroy();
    if (!out.destroyed) out.destroy();
    this.reject(error);
  }
}

/** Buffer, decode, mask, send. Returns how many values were masked. */
export async function sendMasked(out: ServerResponse, res: Dispatcher.ResponseData, up: Upstream, method: string, policy: BodyMaskPolicy, hold?: Hold): Promise<number> {
  // every path below sends other bytes than the upstream's (or none): its representation headers go
  const headers = baseHeaders(res, up, true);
  if (hasNoBody(method, res.statusCode) || (res.statusCode >= 300 && res.statusCode < 400)) {
    // no body to mask; a redirect's body is not data the agent needs, so it is dropped
    if (hold) await hold();
    discard(res.body);
    if (method !== 'HEAD') headers['content-length'] = '0';
    out.writeHead(res.statusCode, headers);
    out.end();
    return 0;
  }
  if (res.statusCode === 206) {
    discard(res.body);
    throw new PortcullisError('protocol_violation', `target ${up.name} sent a partial response, which cannot be masked`, { details: { status: 502 } });
  }
  const declared = Number(headerText(res.headers['content-length']) ?? 'NaN');
  if (Number.isFinite(declared) && declared > policy.limit) {
    discard(res.body);
    throw new PortcullisError('resource_exhausted', `target ${up.name}: the response is larger than ${policy.limit} bytes, the most the gateway masks`, {
      details: { status: 502, limit: policy.limit },
    });
  }
  const type = mediaType(res.headers['content-type']);
  if (res.statusCode >= 200 && res.statusCode < 300 && (isJsonLinesType(type) || type === 'text/event-stream')) {
    // a stream may never end: masked line by line (NDJSON) or event by event (SSE), never buffered whole
    const stats: LineStreamStats = { lines: 0, masked: 0 };
    const masker = type === 'text/event-stream' ? sseMasker(policy, stats) : lineMasker((line) => maskNdjsonLine(line, policy), policy.limit, up.name, stats);
    await sendThrough(out, res, up, masker, hold);
    return stats.masked;
  }
  const raw = await readLimited(res.body, policy.limit, up.name);
  const decoded = decodeContent(raw, headerText(res.headers['content-encoding']), policy.limit, up.name);
  const masked = maskBody(decoded, res.headers['content-type'], policy);
  headers['content-length'] = String(masked.body.length);
  headers['x-portcullis-masked'] = String(masked.count);
  // the body was read and masked while the record was flushed; only now may it go out
  if (hold) await hold();
  out.writeHead(res.statusCode, headers);
  out.end(masked.body);
  return masked.count;
}

function decoderFor(encoding: string | undefined, target: string): Transform | undefined {
  const e = (encoding ?? '').trim().toLowerCase();
  if (e === '' || e === 'identity') return undefined;
  if (e === 'gzip' || e === 'x-gzip') return createGunzip();
  if (e === 'deflate') return createInflate();
  if (e === 'br') return createBrotliDecompress();
  throw new PortcullisError('protocol_violation', `target ${target}: the stream's content encoding ${JSON.stringify(e)} is not supported, so it cannot be masked`, {
    details: { status: 502 },
  });
}

/** One NDJSON line: blank lines pass, a JSON line is masked, anything else ends the stream. */
function maskNdjsonLine(line: string, policy: BodyMaskPolicy): { line: string; count: number } {
  if (line.trim() === '') return { line, count: 0 };
  const m = maskJsonLines(line.replace(/\r$/, ''), policy);
  // application/json-seq records start with RS: it stays, so the agent's parser still finds them
  return { line: `${line.startsWith('\x1e') ? '\x1e' : ''}${m.body.toString('utf8')}`, count: m.count };
}

/** The upstream body through a masking transform to the agent, decoded first; headers once held. */
async function sendThrough(out: ServerResponse, res: Dispatcher.ResponseData, up: Upstream, masker: Transform, hold?: Hold): Promise<void> {
  const decoder = decoderFor(headerText(res.headers['content-encoding']), up.name);
  if (hold) await hold();
  out.writeHead(res.statusCode, baseHeaders(res, up, true));
  out.flushHeaders();
  try {
    if (decoder) await pipeline(res.body, decoder, masker, out);
    else await pipeline(res.body, masker, out);
  } catch (error) {
    // the agent has what was masked so far and a cut stream; nothing unmasked was written
    if (!out.destroyed) out.destroy();
    throw error;
  }
}

/** A stream masked line by line as it arrives (Kubernetes watch, followed logs). */
export async function sendLineMasked(
  out: ServerResponse,
  res: Dispatcher.ResponseData,
  up: Upstream,
  maskLine: (line: string) => { line: string; count: number },
  limit: number,
): Promise<LineStreamStats> {
  const stats: LineStreamStats = { lines: 0, masked: 0 };
  const decoder = decoderFor(headerText(res.headers['content-encoding']), up.name);
  const headers = baseHeaders(res, up, true);
  out.writeHead(res.statusCode, headers);
  out.flushHeaders();
  const masker = lineMasker(maskLine, limit, up.name, stats);
  try {
    if (decoder) await pipeline(res.body, decoder, masker, out);
    else await pipeline(res.body, masker, out);
  } catch (error) {
    // the agent has the lines masked so far and a cut stream; nothing unmasked was written
    if (!out.destroyed) out.destroy();
    throw error;
  }
  return stats;
}
