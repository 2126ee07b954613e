/**
 * Masks a `text/event-stream` response event by event, as it streams: each event's data (its
 * `data:` lines joined) is masked as JSON when it is JSON and as text otherwise, then written out
 * with its id, event and retry fields. Comment lines (keep-alives) go out empty, since a comment
 * can carry anything. One event is held at a time, bounded by the target's body limit; an event
 * the masker refuses, or one past the bound, ends the stream after the last masked event.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { PortcullisError } from '../../errors.ts';
import { maskBody, type BodyMaskPolicy } from './body.ts';
import type { LineStreamStats } from './line-stream.ts';

interface Pending {
  fields: string[];
  data: string[];
  size: number;
}

export function sseMasker(policy: BodyMaskPolicy, stats: LineStreamStats = { lines: 0, masked: 0 }): Transform {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  let first = true;
  let event: Pending = { fields: [], data: [], size: 0 };
  const tooLarge = () => new PortcullisError('resource_exhausted', `target ${policy.target}: a streamed event exceeds ${policy.limit} bytes`);

  const dispatch = (self: Transform): void => {
    if (event.fields.length === 0 && event.data.length === 0) return;
    let out = event.fields.join('');
    if (event.data.length > 0) {
      const data = event.data.join('\n');
      const json = /^\s*[[{]/.test(data);
      const masked = maskBody(Buffer.from(data, 'utf8'), json ? 'application/json' : 'text/plain', { ...policy, textIsExpected: true });
      stats.masked += masked.count;
      const text = masked.body.toString('utf8');
      // JSON data is re-serialised on one line; text keeps its lines
      for (const line of (json ? text.replace(/\r?\n/g, ' ') : text).split('\n')) out += `data: ${line}\n`;
    }
    stats.lines++;
    self.push(`${out}\n`);
    event = { fields: [], data: [], size: 0 };
  };

  const line = (self: Transform, text: string): void => {
    if (text === '') return dispatch(self);
    event.size += text.length;
    if (event.size > policy.limit) throw tooLarge();
    if (text.startsWith(':')) {
      self.push(':\n');
      return;
    }
    const colon = text.indexOf(':');
    const field = colon >= 0 ? text.slice(0, colon) : text;
    let value = colon >= 0 ? text.slice(colon + 1) : '';
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') event.data.push(value);
    else if (field === 'id' && !value.includes('\0')) event.fields.push(`id: ${value}\n`);
    else if (field === 'event' && /^[\x21-\x7e]{1,100}$/.test(value)) event.fields.push(`event: ${value}\n`);
    else if (field === 'retry' && /^\d{1,9}$/.test(value)) event.fields.push(`retry: ${value}\n`);
    // unknown fields are dropped: a client ignores them, and they are not examined
  };

  const lines = (self: Transform): void => {
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      // a lone CR at the end may be the first half of CRLF: wait for more
      if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) break;
      const text = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      line(self, text);
    }
    if (buffer.length > policy.limit) throw tooLarge();
  };

  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        buffer += decoder.write(chunk);
        if (first && buffer.length > 0) {
          if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
          first = false;
        }
        lines(this);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        buffer += decoder.end();
        lines(this);
        if (buffer !== '') line(this, buffer);
        // an event without its closing blank line is never dispatched by a client: it is dropped
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}
