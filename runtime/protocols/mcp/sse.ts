/**
 * Server-sent events as Streamable HTTP uses them: each event's `data` is one JSON-RPC message,
 * `id` lets a client resume. The parser follows the WHATWG rules that matter here (LF, CR or CRLF
 * line ends, a leading BOM, `:` comments, multi-line data joined by LF) and bounds an event's size,
 * since the gateway holds one event in memory to mask it.
 */
import { PortcullisError } from '../../errors.ts';

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

export async function* parseSse(body: AsyncIterable<Buffer | Uint8Array | string>, maxEventBytes: number, target: string): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let current: { event?: string; data: string[]; id?: string; retry?: number; size: number } = { data: [], size: 0 };
  const lineOf = function* (): Generator<string> {
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      // a lone CR at the end may be the first half of CRLF: wait for more
      if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) return;
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      yield line;
    }
  };
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    for (const line of lineOf()) {
      if (line === '') {
        if (current.data.length > 0 || current.retry !== undefined) {
          yield {
            data: current.data.join('\n'),
            ...(current.event !== undefined ? { event: current.event } : {}),
            ...(current.id !== undefined ? { id: current.id } : {}),
            ...(current.retry !== undefined ? { retry: current.retry } : {}),
          };
        }
        current = { data: [], size: 0 };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon >= 0 ? line.slice(0, colon) : line;
      let value = colon >= 0 ? line.slice(colon + 1) : '';
      if (value.startsWith(' ')) value = value.slice(1);
      current.size += line.length;
      if (current.size > maxEventBytes) throw tooLarge(target, maxEventBytes);
      if (field === 'data') current.data.push(value);
      else if (field === 'event') current.event = value;
      else if (field === 'id' && !value.includes('\0')) current.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) current.retry = Number(value);
    }
    if (buffer.length > maxEventBytes) throw tooLarge(target, maxEventBytes);
  }
}

function tooLarge(target: string, limit: number): PortcullisError {
  return new PortcullisError('resource_exhausted', `target ${target}: an event is larger than ${limit} bytes, the most the gateway masks`, {
    details: { status: 502, limit },
  });
}

/** One event as the agent's client reads it; data never contains a raw newline (it is JSON). */
export function formatSse(e: SseEvent): string {
  let out = '';
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  if (e.retry !== undefined) out += `retry: ${e.retry}\n`;
  out += `event: ${e.event ?? 'message'}\n`;
  for (const line of e.data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}
