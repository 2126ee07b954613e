/**
 * Masking of what an MCP server returns, with the HTTP gateway's JSON masker and text rules so a
 * classified value looks the same whichever protocol it left through.
 *
 * Field paths (`$..email`, `$.customer.ssn`) apply to each JSON document a result carries, rooted
 * at that document: `structuredContent`, a text block or resource text that is JSON, an error's
 * `data`. Text that is not JSON is masked line by line as HTTP text is (JSON lines as JSON, other
 * lines through the content detectors; a line naming a masked field outside a document is
 * refused). Content detectors then run over every other string of the message too. Binary
 * payloads (images, audio, non-text blobs) cannot be read by the detectors, so with any mask
 * active they are refused rather than passed.
 */
import { parseExact, type ExactJson } from '../../http-transport/masking/exact-numbers.ts';
import type { Mask } from '../../engine/decision.ts';
import { PortcullisError } from '../../errors.ts';
import { maskBody, isJsonType, type BodyMaskPolicy } from '../../http-transport/masking/body.ts';
import { jsonMasker, type JsonMasker } from '../../http-transport/masking/json-mask.ts';
import { setOwn } from '../../http-transport/masking/json-path.ts';
import { fieldNamesOf } from '../../http-transport/masking/field-names.ts';

export interface McpMasker {
  readonly active: boolean;
  /** the `result` of a response to `method`; throws protocol_violation when it cannot be masked */
  result(method: string, result: unknown): { value: unknown; count: number };
  /** any other JSON value (error objects, server notifications and requests) */
  value(value: unknown): { value: unknown; count: number };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function withheld(target: string, what: string, cause?: unknown): PortcullisError {
  return new PortcullisError('protocol_violation', `target ${target}: ${what}; the result is withheld because it cannot be masked`, {
    ...(cause !== undefined ? { cause } : {}),
  });
}

function textualMime(mime: unknown): boolean {
  if (typeof mime !== 'string') return false;
  const type = (mime.split(';')[0] ?? '').trim().toLowerCase();
  return type.startsWith('text/') || isJsonType(type) || type.endsWith('+xml') || type === 'application/xml';
}

export function mcpMasker(masks: readonly Mask[], key: Buffer, target: string): McpMasker {
  const json: JsonMasker = jsonMasker(masks, key);
  const scrubber = jsonMasker(
    masks.filter((m) => m.kind === 'content'),
    key,
  );
  const policy: BodyMaskPolicy = {
    target,
    transform: (v) => json.apply(v),
    scrub: json.scrub,
    detectors: json.detectors,
    fieldNames: fieldNamesOf(masks),
    passUnmaskedContentTypes: [],
    textIsExpected: true,
    limit: Number.MAX_SAFE_INTEGER,
  };
  let count = 0;

  const text = (source: string): string => {
    if (/^\s*[[{]/.test(source)) {
      let parsed: ExactJson | undefined;
      try {
        // numbers it does not mask leave exactly as the tool wrote them
        parsed = parseExact(source);
      } catch {
        parsed = undefined;
      }
      if (parsed !== undefined) {
        const m = json.apply(parsed.value);
        count += m.count;
        return parsed.write(JSON.stringify(m.value));
      }
    }
    const m = maskBody(Buffer.from(source, 'utf8'), 'text/plain', policy);
    count += m.count;
    return m.body.toString('utf8');
  };

  const document = (value: unknown): unknown => {
    const m = json.apply(value);
    count += m.count;
    return m.value;
  };

  const resourceContents = (c: unknown): unknown => {
    if (!isObj(c)) return c;
    if (typeof c.text === 'string') c.text = text(c.text);
    if (typeof c.blob === 'string') {
      if (!textualMime(c.mimeType)) throw withheld(target, `resource ${String(c.uri)} is binary (${String(c.mimeType ?? 'no type')})`);
      c.blob = Buffer.from(text(Buffer.from(c.blob, 'base64').toString('utf8')), 'utf8').toString('base64');
    }
    return envelope(c, ['text', 'blob']);
  };

  const contentBlock = (b: unknown): unknown => {
    if (!isObj(b)) return envelope(b);
    switch (b.type) {
      case 'text':
        if (typeof b.text === 'string') b.text = text(b.text);
        return envelope(b, ['text']);
      case 'resource':
        b.resource = resourceContents(b.resource);
        return envelope(b, ['resource']);
      case 'image':
      case 'audio':
        throw withheld(target, `a ${b.type} content block cannot be read by the detectors`);
      default:
        return envelope(b);
    }
  };

  /**
   * The detectors over every string the document passes did not already mask (members in `done`):
   * scrubbing masked output again could break it (a base64 blob looks like a token).
   */
  const envelope = (value: unknown, done: readonly string[] = []): unknown => {
    if (!scrubber.active) return value;
    if (!isObj(value) || done.length === 0) {
      const m = scrubber.apply(value);
      count += m.count;
      return m.value;
    }
    const rest: Obj = {};
    const kept: Obj = {};
    // setOwn: a member named __proto__ stays a member (and is scrubbed) instead of becoming a prototype
    for (const [k, v] of Object.entries(value)) setOwn(done.includes(k) ? kept : rest, k, v);
    const m = scrubber.apply(rest);
    count += m.count;
    const out = m.value as Obj;
    for (const [k, v] of Object.entries(kept)) setOwn(out, k, v);
    return out;
  };

  const run = (f: () => unknown): { value: unknown; count: number } => {
    count = 0;
    try {
      return { value: f(), count };
    } catch (error) {
      if (PortcullisError.is(error)) throw error;
      throw withheld(target, 'the result could not be masked', error);
    }
  };

  return {
    active: json.active,
    result(method, result) {
      if (!json.active || !isObj(result)) return { value: result, count: 0 };
      return run(() => {
        switch (method) {
          case 'tools/call':
            if (Array.isArray(result.content)) result.content = result.content.map(contentBlock);
            if (result.structuredContent !== undefined) result.structuredContent = document(result.structuredContent);
            return envelope(result, ['content', 'structuredContent']);
          case 'resources/read':
            if (Array.isArray(result.contents)) result.contents = result.contents.map(resourceContents);
            return envelope(result, ['contents']);
          case 'prompts/get':
            if (Array.isArray(result.messages)) {
              for (const msg of result.messages) if (isObj(msg)) msg.content = contentBlock(msg.content);
            }
            return envelope(result, ['messages']);
          default:
            return document(result);
        }
      });
    },
    value(value) {
      if (!json.active) return { value, count: 0 };
      return run(() => {
        if (!isObj(value)) return envelope(value);
        if (typeof value.message === 'string') value.message = text(value.message);
        if (value.data !== undefined) value.data = document(value.data);
        return envelope(value, ['message', 'data']);
      });
    },
  };
}
