import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Postgres } from '../../schema/types.ts';
import { connectBackend } from '../../runtime/protocols/postgres/backend/connect.ts';
import { backendOptions } from '../../runtime/protocols/postgres/targets.ts';

const SSL_REQUEST_CODE = 80877103;

/** A server that keeps the first packet the gateway sends its backend, then hangs up. */
async function firstPacketServer(): Promise<{ port: number; first: Promise<Buffer>; close(): Promise<void> }> {
  let got!: (b: Buffer) => void;
  const first = new Promise<Buffer>((resolve) => (got = resolve));
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', (chunk: Buffer) => {
      got(chunk);
      socket.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    first,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function firstPacketFor(tls: Postgres['tls']): Promise<Buffer> {
  const server = await firstPacketServer();
  closers.push(server.close);
  const spec = { type: 'postgres', host: '127.0.0.1', port: server.port, database: 'app', user: 'gw', ...(tls ? { tls } : {}) } as Postgres;
  const opts = await backendOptions('t', spec, new Map());
  await connectBackend({ ...opts, connectTimeoutMs: 2000 }).catch(() => undefined);
  return server.first;
}

describe('a target’s tls mode reaches the backend connection', () => {
  it('tls mode disable: the first packet is the startup message, never an SSLRequest', async () => {
    const first = await firstPacketFor({ mode: 'disable' });
    expect(first.readInt32BE(4)).not.toBe(SSL_REQUEST_CODE);
    expect(first.readInt32BE(4)).toBe(196608);
  });

  it('no tls block: the gateway still asks for TLS first (prefer)', async () => {
    const first = await firstPacketFor(undefined);
    expect(first.readInt32BE(4)).toBe(SSL_REQUEST_CODE);
  });
});
