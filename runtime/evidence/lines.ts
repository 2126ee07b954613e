/** Streams the lines of a log file, noting whether the last one was cut short (no newline). */
import { createReadStream } from 'node:fs';

export interface Line {
  text: string;
  /** false only for a final line with no trailing newline: a write that never completed */
  terminated: boolean;
}

export async function* readLines(path: string): AsyncGenerator<Line> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let buf: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      yield { text: buf.toString('utf8', start, nl), terminated: true };
      start = nl + 1;
    }
    rest = buf.subarray(start);
    buf = rest;
  }
  if (rest.length > 0) yield { text: rest.toString('utf8'), terminated: false };
}
