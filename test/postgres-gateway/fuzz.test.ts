/**
 * Malformed and truncated frontend messages after a valid startup, over a real socket: the gateway
 * never crashes or hangs, ends protocol errors with FATAL 08P01, and never forwards what it could not
 * parse (each message carries a marker that must not reach the backend's statement log).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import fc from 'fast-check';
import { bind, close as closeMsg, copyData, describe as describeMsg, execute, flush, functionCall, parse, query, sync } from '../../runtime/protocols/postgres/wire/serialize.ts';
import { backendLogSince, logOffset, startGatewayFixture, type GatewayFixture } from './fixture.ts';
import { WireClient } from './wire.ts';

let gw: GatewayFixture;
let token: string;
beforeAll(async () => {
  gw = await startGatewayFixture();
  token = await gw.token('tester', '1h');
});
afterAll(async () => {
  await gw?.close();
});

const marker = (n: number) => `fz_${process.pid}_${n}`;

/** a well-formed message carrying the marker (in SQL, or in a name) */
const baseMessage = (m: string): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.constant(query(`SELECT '${m}'`)),
    fc.constant(parse('', `SELECT '${m}'`, [25])),
    fc.constant(Buffer.concat([parse(m, `SELECT '${m}'`), bind({ statement: m, params: [Buffer.from('x')], paramFormats: [0] })])),
    fc.constant(describeMsg('S', m)),
    fc.constant(execute(m, 1)),
    fc.constant(closeMsg('P', m)),
    fc.constant(copyData(Buffer.from(`SELECT '${m}'`))),
    fc.constant(functionCall(1, [Buffer.from(m)])),
  );

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'length'; value: number }
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'type'; byte: number }
  | { kind: 'garbage'; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('length' as const), value: fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 64 })) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('type' as const), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

function apply(msg: Buffer, m: Mutation): { bytes: Buffer; truncated: boolean } {
  const b = Buffer.from(msg);
  switch (m.kind) {
    case 'truncate':
      return { bytes: b.subarray(0, m.at % b.length), truncated: true };
    case 'length':
      b.writeInt32BE(m.value, 1);
      return { bytes: b, truncated: m.value + 1 > b.length };
    case 'flip':
      b[m.at % b.length] = m.byte;
      return { bytes: b, truncated: true /* a flipped length byte may ask for more */ };
    case 'type':
      b[0] = m.byte;
      return { bytes: b, truncated: false };
    case 'garbage':
      return { bytes: Buffer.concat([b, Buffer.from(m.bytes)]), truncated: true };
  }
}

test('malformed frontend messages: no crash, no hang, FATAL 08P01, nothing unparsed forwarded', async () => {
  const from = await logOffset();
  let n = 0;
  const protocolErrors: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.integer().chain(() => {
        const id = marker(n++);
        return fc.tuple(fc.constant(id), baseMessage(id), mutation);
      }),
      async ([id, msg, mut]) => {
        const c = await WireClient.login(gw.port, token);
        try {
          const { bytes, truncated } = apply(msg, mut);
          c.send(bytes);
          // a message cut short leaves the gateway waiting for the rest, as PostgreSQL would: the
          // client giving up (closing) must end the session promptly
          if (truncated) c.socket.end();
          else c.send(sync(), query('SELECT 1'));
          await c.waitFor(() => c.closed || c.frames.some((f) => f.code === 'Z'), 5000);
          if (!c.closed) {
            c.socket.end();
            await c.closedWithin(3000);
          }
          const fatal = c.errors().filter((e) => e.get('S') === 'FATAL');
          for (const f of fatal) {
            if (f.get('C') === '08P01' && mut.kind !== 'garbage') protocolErrors.push(`${id} ${JSON.stringify(mut)} ${msg.subarray(0, 1).toString()}`);
            // a protocol error is the only FATAL a lone malformed message may cause
            expect(f.get('C')).toBe('08P01');
          }
        } finally {
          c.close();
        }
      },
    ),
    { numRuns: 80, seed: Number(process.env.FUZZ_SEED ?? 4242), endOnFailure: true },
  );
  expect(protocolErrors.length, 'the generator should produce protocol errors').toBeGreaterThan(10);
  // the server logs asynchronously: give it a moment, then no marker of a rejected message may appear
  await new Promise((r) => setTimeout(r, 300));
  const log = await backendLogSince(from);
  const leaked = protocolErrors.filter((p) => log.includes(`${p.split(' ')[0]}'`));
  expect(leaked, 'messages the gateway rejected as malformed reached the backend').toEqual([]);
  await expect.poll(() => gw.gateway.sessions(), { timeout: 5000 }).toBe(0);
  // every socket of the run is closed on the gateway's side too: no descriptor outlives its client
  await expect.poll(() => gw.gateway.connections(), { timeout: 15_000 }).toBe(0);
  // still serving
  const ok = await WireClient.login(gw.port, token);
  ok.send(query('SELECT 1'));
  await ok.readyCount(1);
  ok.close();
}, 60_000);

test('startup-phase garbage: a FATAL error or a close, never a hang', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 80 }), async (bytes) => {
      const c = await WireClient.connect(gw.port);
      try {
        c.send(Buffer.from(bytes));
        c.socket.end();
        await c.closedWithin(5000);
        for (const e of c.errors()) expect(e.get('S')).toBe('FATAL');
      } finally {
        c.close();
      }
    }),
    { numRuns: 40, seed: 99 },
  );
  await expect.poll(() => gw.gateway.connections(), { timeout: 15_000 }).toBe(0);
}, 60_000);

test('pipelined garbage after valid messages: the valid ones are answered, then FATAL 08P01', async () => {
  const c = await WireClient.login(gw.port, token);
  c.send(query('SELECT 1'), Buffer.from([0x51, 0, 0, 0, 2]), query(`SELECT '${marker(-1)}'`));
  await c.closedWithin(5000);
  expect(c.codes()).toMatch(/^TDCZE$/);
  expect(c.errors()[0]!.get('C')).toBe('08P01');
  await new Promise((r) => setTimeout(r, 200));
  expect(await backendLogSince(0)).not.toContain(marker(-1));
});

test('flush with nothing pending and lone Sync are answered normally', async () => {
  const c = await WireClient.login(gw.port, token);
  c.send(flush(), sync());
  await c.readyCount(1);
  expect(c.codes()).toBe('Z');
  c.close();
});
