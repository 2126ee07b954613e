/**
 * Hostile input: arbitrary, truncated and corrupted byte streams in arbitrary chunkings. The parsers
 * may only ever fail with protocol_violation, must always finish, and must emit a message only
 * once all of its bytes have arrived.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { BackendParser, decodeBackend } from '../../runtime/protocols/postgres/wire/backend.ts';
import { FrontendParser, decodePasswordMessage, decodeSASLInitialResponse } from '../../runtime/protocols/postgres/wire/frontend.ts';
import * as ser from '../../runtime/protocols/postgres/wire/serialize.ts';
import { backendMessage, chunked, cuts, frontendMessage, startupMessage } from './arbitraries.ts';

const RUNS = { numRuns: 400 };

interface Parser {
  push(chunk: Buffer): void;
  next(): { raw: Buffer } | undefined;
  readonly buffered: number;
}

/**
 * Feeds chunks; returns what was emitted and the violation if one was thrown. Asserts the
 * completeness invariant after every chunk: emitted frames are exactly a prefix of the input.
 */
function feed(parser: Parser, chunks: Buffer[], decode?: (m: { raw: Buffer }) => void): { raws: Buffer[]; error?: PortcullisError } {
  const raws: Buffer[] = [];
  let pushed = 0;
  const input: Buffer[] = [];
  try {
    for (const c of chunks) {
      parser.push(c);
      input.push(c);
      pushed += c.length;
      // Each next() either consumes at least five bytes or returns undefined, so this loop is bounded.
      for (let i = 0; ; i++) {
        expect(i).toBeLessThanOrEqual(pushed);
        const m = parser.next();
        if (!m) break;
        decode?.(m);
        raws.push(m.raw);
      }
      const emitted = Buffer.concat(raws);
      expect(emitted.length + parser.buffered).toBe(pushed);
      expect(emitted.equals(Buffer.concat(input).subarray(0, emitted.length))).toBe(true);
    }
    return { raws };
  } catch (err) {
    if (!(err instanceof PortcullisError)) throw err;
    expect(err.code).toBe('protocol_violation');
    expect(err.message.length).toBeGreaterThan(10);
    return { raws, error: err };
  }
}

function decodeFrontendPayload(m: { raw: Buffer }): void {
  const msg = m as ReturnType<FrontendParser['next']> & object;
  if (msg.type !== 'Password') return;
  // Which 'p' it is depends on the auth state; each decoder must fail cleanly on the other's bytes.
  for (const decode of [decodePasswordMessage, decodeSASLInitialResponse]) {
    try {
      decode(msg.data);
    } catch (err) {
      if (!PortcullisError.is(err, 'protocol_violation')) throw err;
    }
  }
}

const smallLimits = { maxMessageBytes: 4096, maxControlBytes: 1024, maxStartupBytes: 512 };

describe('frontend parser on hostile input', () => {
  it('survives arbitrary bytes in either phase', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), cuts, (data, skipStartup, cutPoints) => {
        feed(new FrontendParser({ ...smallLimits, skipStartup }), chunked(Buffer.from(data), cutPoints), decodeFrontendPayload);
      }),
      RUNS,
    );
  });

  it('survives truncated and corrupted valid streams', () => {
    fc.assert(
      fc.property(
        startupMessage,
        fc.array(frontendMessage, { maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        cuts,
        (startup, msgs, flips, cutAt, cutPoints) => {
          const valid = Buffer.concat([startup.bytes, ...msgs.map((m) => m.bytes)]);
          const stream = Buffer.from(valid.subarray(0, cutAt % (valid.length + 1)));
          for (const [at, byte] of flips) if (stream.length) stream[at % stream.length] = byte;
          feed(new FrontendParser(smallLimits), chunked(stream, cutPoints), decodeFrontendPayload);
        },
      ),
      RUNS,
    );
  });

  it('emits exactly the complete messages of a truncated stream', () => {
    fc.assert(
      fc.property(startupMessage, fc.array(frontendMessage, { minLength: 1, maxLength: 8 }), fc.nat(), cuts, (startup, msgs, cutAt, cutPoints) => {
        const frames = [startup.bytes, ...msgs.map((m) => m.bytes)];
        const valid = Buffer.concat(frames);
        const end = cutAt % (valid.length + 1);
        const { raws, error } = feed(new FrontendParser(), chunked(valid.subarray(0, end), cutPoints));
        expect(error).toBeUndefined();
        let complete = 0;
        let size = 0;
        for (const f of frames) {
          if (size + f.length > end) break;
          size += f.length;
          complete++;
        }
        expect(raws).toHaveLength(complete);
      }),
      RUNS,
    );
  });

  it.each([
    ['bad length', Buffer.from([0x51, 0, 0, 0, 2]), /invalid length 2/],
    ['unknown type', Buffer.from([0x7a, 0, 0, 0, 4]), /unknown frontend message type 0x7a/],
    ['missing NUL', Buffer.from([0x51, 0, 0, 0, 6, 0x41, 0x42]), /missing its NUL terminator/],
    ['count overrun', Buffer.concat([Buffer.from([0x50, 0, 0, 0, 8, 0, 0]), Buffer.from([0, 100])]), /overruns the message/],
    ['trailing bytes', Buffer.from([0x53, 0, 0, 0, 5, 0]), /Sync must have an empty body/],
    ['oversized', Buffer.from([0x64, 0x7f, 0, 0, 0]), /exceeds the limit of 67108864 bytes/],
    ['invalid UTF-8', Buffer.from([0x51, 0, 0, 0, 7, 0xc3, 0x28, 0]), /not valid UTF-8/],
  ])('rejects %s clearly', (_name, bytes, message) => {
    const parser = new FrontendParser({ skipStartup: true });
    expect(() => parser.parse(bytes)).toThrow(message);
  });

  it('rejects malformed startup packets', () => {
    const p = () => new FrontendParser();
    expect(() => p().parse(Buffer.from([0, 0, 0x30, 0x39, 0, 3, 0, 0]))).toThrow(/exceeds the limit of 10000/);
    expect(() => p().parse(Buffer.from([0, 0, 0, 4]))).toThrow(/too short/);
    expect(() => p().parse(ser.startupMessage({ database: 'x' }))).toThrow(/no "user"/);
    expect(() => p().parse(ser.startupMessage({ user: 'a' }, 2 << 16))).toThrow(/unsupported frontend protocol 2\.0/);
    // Plaintext sent behind an SSLRequest would bypass the TLS the client asked for.
    expect(() => p().parse(Buffer.concat([ser.sslRequest(), ser.startupMessage({ user: 'a' })]))).toThrow(/unencrypted data after an encryption request/);
    const afterCancel = p();
    afterCancel.parse(ser.cancelRequest(1, 2));
    expect(() => afterCancel.parse(ser.sync())).toThrow(/after ending the connection/);
  });
});

describe('backend parser on hostile input', () => {
  const decodeAll = (f: { raw: Buffer }) => decodeBackend(f as ReturnType<BackendParser['next']> & object);

  it('survives arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (data, cutPoints) => {
        feed(new BackendParser({ maxMessageBytes: 4096 }), chunked(Buffer.from(data), cutPoints), decodeAll);
      }),
      RUNS,
    );
  });

  it('survives truncated and corrupted valid streams, decoding every frame', () => {
    fc.assert(
      fc.property(fc.array(backendMessage, { maxLength: 10 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), cuts, (msgs, flips, cutAt, cutPoints) => {
        const valid = Buffer.concat(msgs.map((m) => m.bytes));
        const stream = Buffer.from(valid.subarray(0, cutAt % (valid.length + 1)));
        for (const [at, byte] of flips) if (stream.length) stream[at % stream.length] = byte;
        feed(new BackendParser({ maxMessageBytes: 4096 }), chunked(stream, cutPoints), decodeAll);
      }),
      RUNS,
    );
  });

  it('rejects unknown message types instead of dropping them', () => {
    expect(() => new BackendParser().parse(Buffer.from([0x78, 0, 0, 0, 4]))).toThrow(/unknown backend message type 0x78/);
  });

  it('rejects DataRow counts that overrun the frame', () => {
    const [frame] = new BackendParser().parse(Buffer.from([0x44, 0, 0, 0, 10, 0, 1, 0, 0, 0, 9]));
    expect(() => decodeBackend(frame!)).toThrow(/column 1 runs past the end/);
  });
});
