import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendParser, decodeBackend } from '../../runtime/protocols/postgres/wire/backend.ts';
import { FrontendParser, decodeSASLInitialResponse, decodePasswordMessage, type FrontendMessage } from '../../runtime/protocols/postgres/wire/frontend.ts';
import * as ser from '../../runtime/protocols/postgres/wire/serialize.ts';
import { backendMessage, bytes, chunked, cstr, cuts, frontendMessage, startupMessage, untypedRequest } from './arbitraries.ts';

const RUNS = { numRuns: 300 };

function feedFrontend(parser: FrontendParser, chunks: Buffer[]): FrontendMessage[] {
  const out: FrontendMessage[] = [];
  for (const c of chunks) out.push(...parser.parse(c));
  return out;
}

describe('frontend serializer → parser', () => {
  it('round-trips a startup packet and any sequence of typed messages, in any chunking', () => {
    fc.assert(
      fc.property(startupMessage, fc.array(frontendMessage, { maxLength: 12 }), fc.boolean(), cuts, (startup, msgs, terminate, cutPoints) => {
        const all = [startup, ...msgs];
        const stream = Buffer.concat([...all.map((m) => m.bytes), ...(terminate ? [ser.terminate()] : [])]);
        const parser = new FrontendParser();
        const parsed = feedFrontend(parser, chunked(stream, cutPoints));
        expect(parsed.length).toBe(all.length + (terminate ? 1 : 0));
        all.forEach((g, i) => expect(parsed[i]).toMatchObject(g.expected));
        // Raw bytes are the exact frames: forwarding them reproduces the stream.
        expect(Buffer.concat(parsed.map((m) => m.raw)).equals(stream)).toBe(true);
        expect(parser.buffered).toBe(0);
        expect(parser.phase).toBe(terminate ? 'closed' : 'messages');
      }),
      RUNS,
    );
  });

  it('round-trips SSLRequest, GSSENCRequest and CancelRequest', () => {
    fc.assert(
      fc.property(untypedRequest, cuts, (req, cutPoints) => {
        const parsed = feedFrontend(new FrontendParser(), chunked(req.bytes, cutPoints));
        expect(parsed).toHaveLength(1);
        expect(parsed[0]).toMatchObject(req.expected);
        expect(parsed[0]!.raw.equals(req.bytes)).toBe(true);
      }),
      RUNS,
    );
  });

  it('continues with the startup packet after an encryption request was answered', () => {
    const parser = new FrontendParser();
    expect(parser.parse(ser.sslRequest())).toMatchObject([{ type: 'SSLRequest' }]);
    expect(parser.phase).toBe('startup');
    expect(parser.parse(ser.startupMessage({ user: 'agent', database: 'shop' }))).toMatchObject([
      {
        type: 'StartupMessage',
        params: new Map([
          ['user', 'agent'],
          ['database', 'shop'],
        ]),
      },
    ]);
  });

  it('decodes password and SASL payloads', () => {
    fc.assert(
      fc.property(cstr(), cstr(20), fc.option(bytes(), { nil: null }), (pw, mech, initial) => {
        const [p] = new FrontendParser({ skipStartup: true }).parse(ser.passwordMessage(pw));
        expect(p?.type === 'Password' && decodePasswordMessage(p.data)).toBe(pw);
        const [s] = new FrontendParser({ skipStartup: true }).parse(ser.saslInitialResponse(mech, initial));
        expect(s?.type === 'Password' && decodeSASLInitialResponse(s.data)).toEqual({ mechanism: mech, initial });
      }),
      RUNS,
    );
  });
});

describe('backend serializer → parser', () => {
  it('round-trips any sequence of server messages, in any chunking', () => {
    fc.assert(
      fc.property(fc.array(backendMessage, { maxLength: 15 }), cuts, (msgs, cutPoints) => {
        const stream = Buffer.concat(msgs.map((m) => m.bytes));
        const parser = new BackendParser();
        const frames = chunked(stream, cutPoints).flatMap((c) => parser.parse(c));
        expect(frames).toHaveLength(msgs.length);
        msgs.forEach((g, i) => {
          const decoded = decodeBackend(frames[i]!);
          if ('error' in decoded) {
            expect(decoded).toMatchObject({ type: g.expected.type });
            expect(decoded.error).toMatchObject(g.expected.error as object);
          } else {
            expect(decoded).toMatchObject(g.expected);
          }
        });
        expect(Buffer.concat(frames.map((f) => f.raw)).equals(stream)).toBe(true);
        expect(parser.buffered).toBe(0);
      }),
      RUNS,
    );
  });

  it('keeps binary DataRow values byte for byte', () => {
    const values = [Buffer.from([0, 255, 0x80, 0xc3, 0x28]), null, Buffer.alloc(0), 'plain text'];
    const [frame] = new BackendParser().parse(ser.dataRow(values));
    const decoded = decodeBackend(frame!);
    expect(decoded).toEqual({ type: 'DataRow', values: [values[0], null, Buffer.alloc(0), Buffer.from('plain text')] });
  });

  it('answers encryption requests with one unframed byte', () => {
    expect(ser.encryptionResponse(true)).toEqual(Buffer.from('S'));
    expect(ser.encryptionResponse(false)).toEqual(Buffer.from('N'));
  });

  it('refuses to build frames a NUL would split', () => {
    expect(() => ser.query('SELECT 1\0; DROP TABLE x')).toThrow(/must not contain a NUL/);
    expect(() => ser.errorResponse({ severity: 'ERROR', code: '42501', message: 'a\0b' })).toThrow(/NUL/);
    expect(() => ser.errorResponse({ severity: 'ERROR', code: 'bad', message: 'x' })).toThrow(/SQLSTATE/);
  });
});
