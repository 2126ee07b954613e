/**
 * Masks a stream one line at a time (Kubernetes watch events, followed logs) so the agent sees each
 * event as it happens instead of after the stream ends. A line longer than the limit, or one the
 * masker refuses, ends the stream: the agent gets everything up to the last masked line, nothing more.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { PortcullisError } from '../../errors.ts';

export interface LineStreamStats {
  lines: number;
  masked: number;
}

export function lineMasker(maskLine: (line: string) => { line: string; count: number }, limit: number, target: string, stats: LineStreamStats = { lines: 0, masked: 0 }): Transform {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (self: Transform, line: string): void => {
    const out = maskLine(line);
    stats.lines++;
    stats.masked += out.count;
    self.push(`${out.line}\n`);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        pending += decoder.write(chunk);
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          emit(this, line);
        }
        if (pending.length > limit) {
          throw new PortcullisError('resource_exhausted', `target ${target}: a streamed line exceeds ${limit} bytes`);
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        pending += decoder.end();
        if (pending.trim() !== '') emit(this, pending);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}
