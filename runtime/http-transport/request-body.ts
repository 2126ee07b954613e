/**
 * The request body, read whole when the gateway must know it before forwarding: a reviewed request
 * (an approval binds the body, and approvers read it), and a form that may carry `_method`. The
 * bytes read are the bytes forwarded, so what was approved is what the upstream gets.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { HttpBodyBinding } from '../engine/request.ts';
import type { Mask } from '../engine/decision.ts';
import { PortcullisError } from '../errors.ts';
import { mediaType } from './headers.ts';
import { isJsonType, readLimited } from './masking/body.ts';
import { parseExact } from './masking/exact-numbers.ts';
import { jsonMasker } from './masking/json-mask.ts';
import { scrubText } from './masking/values.ts';

/** Headers that change what a request means: an approval of one is not an approval of another. */
export const MEANING_HEADERS = ['content-type', 'content-encoding', 'content-language', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range'] as const;

const PREVIEW_CHARS = 2000;

export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export async function readRequestBody(req: IncomingMessage, limit: number, target: string): Promise<Buffer> {
  const tooLarge = () => new PortcullisError('resource_exhausted', `the request body is larger than ${limit} bytes, the most target ${target} accepts`, { details: { status: 413, limit } });
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  if (!hasRequestBody(req)) return Buffer.alloc(0);
  try {
    return await readLimited(req, limit, target);
  } catch (error) {
    throw PortcullisError.is(error, 'resource_exhausted') ? tooLarge() : error;
  }
}

export function meaningHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of MEANING_HEADERS) {
    const v = req.headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/**
 * The binding of a body: its hash, and a preview masked with the masks the decision carries (the
 * approver is a person reading data too). A body that is neither JSON nor text is not shown.
 */
export function bodyBinding(body: Buffer, contentType: string | string[] | undefined, masks: readonly Mask[], key: Buffer): HttpBodyBinding {
  const sha256 = createHash('sha256').update(body).digest('hex');
  return { sha256, bytes: body.length, preview: preview(body, mediaType(contentType), masks, key) };
}

function preview(body: Buffer, type: string, masks: readonly Mask[], key: Buffer): string {
  if (body.length === 0) return '';
  const text = body.toString('utf8');
  const cut = (s: string) => (s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s);
  if (isJsonType(type) || /^\s*[[{]/.test(text)) {
    try {
      const parsed = parseExact(text);
      const masked = jsonMasker(masks, key).apply(parsed.value);
      // the detectors run even without a content mask: an approver has no need for a card number
      return cut(scrubText(parsed.write(JSON.stringify(masked.value))).text);
    } catch {
      // not JSON after all: shown as text below
    }
  }
  if (type.startsWith('text/') || type === 'application/x-www-form-urlencoded' || type === '' || type.endsWith('+xml') || type === 'application/xml') {
    if (text.includes('\uFFFD')) return `(${body.length} bytes that are not UTF-8 text, not shown)`;
    return cut(scrubText(text).text);
  }
  return `(${body.length} bytes of ${type}, not shown)`;
}
