import { isUtf8 } from 'node:buffer';
import { PortcullisError } from '../../../errors.ts';

/** Every malformed byte sequence, from either side, surfaces as this one error kind. */
export function violation(message: string): PortcullisError {
  return new PortcullisError('protocol_violation', message);
}

/**
 * Bytes that are not a startup packet at all (a Terminate or a query sent first, a length out of
 * range): PostgreSQL logs it and closes without a word, since the peer does not speak the protocol.
 */
export function notAStartupPacket(message: string): PortcullisError {
  return new PortcullisError('protocol_violation', message, { details: { closeSilently: true } });
}

/**
 * A byte queue that only concatenates once a whole frame is present, so a 64 MiB message arriving
 * in 64 KiB chunks costs one copy instead of a thousand growing ones, and a frame that lies inside
 * one chunk costs no copy at all.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Byte at `index` from the front, or -1 when not buffered yet. */
  byteAt(index: number): number {
    if (index >= this.total) return -1;
    let i = index + this.head;
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    return -1;
  }

  /** Big-endian int32 at `index`, or undefined when not buffered yet. */
  int32At(index: number): number | undefined {
    if (index + 4 > this.total) return undefined;
    const first = this.chunks[0]!;
    const at = this.head + index;
    if (at + 4 <= first.length) return first.readInt32BE(at);
    return (this.byteAt(index) << 24) | (this.byteAt(index + 1) << 16) | (this.byteAt(index + 2) << 8) | this.byteAt(index + 3);
  }

  /** Remove and return the first `n` bytes; a view into the input when they lie in one chunk. */
  take(n: number): Buffer {
    if (n > this.total) throw new Error('ChunkQueue.take past the end');
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (this.head + n <= first.length) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      this.total -= n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const want = Math.min(avail, n - written);
      c.copy(out, written, this.head, this.head + want);
      written += want;
      if (want === avail) {
        this.chunks.shift();
        this.head = 0;
      } else {
        this.head += want;
      }
    }
    this.total -= n;
    return out;
  }

  /** Everything still buffered, leaving the queue empty. */
  drain(): Buffer {
    return this.take(this.total);
  }
}

/**
 * A strict cursor over one message body: every read is bounds-checked and `end()` insists the
 * body was consumed exactly, because trailing bytes a decoder ignores are bytes a backend may not.
 */
export class BodyReader {
  private pos = 0;
  constructor(
    private readonly body: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.body.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.body.length) {
      throw violation(`${this.what}: ${field} runs past the end of the message`);
    }
  }

  int8(field: string): number {
    this.need(1, field);
    return this.body[this.pos++]!;
  }

  int16(field: string): number {
    this.need(2, field);
    const v = this.body.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(field: string): number {
    this.need(2, field);
    const v = this.body.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(field: string): number {
    this.need(4, field);
    const v = this.body.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(field: string): number {
    this.need(4, field);
    const v = this.body.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * A count followed by that many items of at least `minItemBytes` each; checked before looping.
   * Unsigned, as PostgreSQL reads it (pq_getmsgint(.., 2)): up to 65,535 parameters are legal.
   */
  count16(field: string, minItemBytes: number): number {
    const n = this.uint16(field);
    if (n * minItemBytes > this.remaining) throw violation(`${this.what}: ${field} ${n} overruns the message`);
    return n;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const out = this.body.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Length-prefixed value where -1 means SQL NULL. */
  nullableBytes(field: string): Buffer | null {
    const len = this.int32(field);
    if (len === -1) return null;
    if (len < -1) throw violation(`${this.what}: invalid length ${len} for ${field}`);
    return this.bytes(len, field);
  }

  cstring(field: string): string {
    const end = this.body.indexOf(0, this.pos);
    if (end === -1) throw violation(`${this.what}: ${field} is missing its NUL terminator`);
    const raw = this.body.subarray(this.pos, end);
    this.pos = end + 1;
    return utf8(raw, this.what, field);
  }

  rest(): Buffer {
    const out = this.body.subarray(this.pos);
    this.pos = this.body.length;
    return out;
  }

  end(): void {
    if (this.pos !== this.body.length) {
      throw violation(`${this.what}: ${this.body.length - this.pos} unexpected trailing byte(s)`);
    }
  }
}

/**
 * Text is decoded strictly: a lossy decode would let the gateway analyse different SQL from the
 * bytes it forwards unchanged.
 */
export function utf8(raw: Buffer, what: string, field: string): string {
  if (!isUtf8(raw)) throw violation(`${what}: ${field} is not valid UTF-8`);
  return raw.toString('utf8');
}
