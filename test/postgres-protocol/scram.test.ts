import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { connectBackend } from '../../runtime/protocols/postgres/backend/connect.ts';
import { ScramClient, saslprep } from '../../runtime/protocols/postgres/backend/scram.ts';
import { FrontendParser } from '../../runtime/protocols/postgres/wire/frontend.ts';
import * as ser from '../../runtime/protocols/postgres/wire/serialize.ts';

describe('ScramClient', () => {
  it('matches the RFC 7677 test vector', async () => {
    const c = new ScramClient('pencil', 'rOprNGfwEbeRWgbNEkqO', 'user');
    expect(c.clientFirst().toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await c.clientFinal(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    expect(final.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    c.verifyServerFinal(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='));
    expect(c.complete).toBe(true);
  });

  it('refuses a forged server signature, a foreign nonce and absurd iteration counts', async () => {
    const c = new ScramClient('pencil', 'abc');
    await expect(c.clientFinal(Buffer.from('r=xyz123,s=AAAA,i=4096'))).rejects.toThrow(/does not extend the client nonce/);
    await expect(c.clientFinal(Buffer.from('r=abc123,s=AAAA,i=99999999999'))).rejects.toThrow(/iteration count/);
    await c.clientFinal(Buffer.from('r=abc123,s=AAAA,i=16'));
    expect(() => c.verifyServerFinal(Buffer.from(`v=${Buffer.alloc(32).toString('base64')}`))).toThrow(/server signature mismatch/);
    expect(() => c.verifyServerFinal(Buffer.from('e=invalid-proof'))).toThrow(/invalid-proof/);
  });

  it('applies SASLprep to non-ASCII passwords only', () => {
    expect(saslprep('plain ascii')).toBe('plain ascii');
    expect(saslprep('I\u00adX')).toBe('IX');
    expect(saslprep('a\u00a0b')).toBe('a b');
    expect(saslprep('\u2168')).toBe('IX');
  });
});

/** A fake backend that runs `script` against the first connection. */
const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});
async function fakeBackend(script: (socket: Socket, parser: FrontendParser) => void): Promise<number> {
  const server = createServer((socket) => script(socket, new FrontendParser()));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function failure(port: number, extra: { tls?: { mode: 'disable' | 'prefer' | 'require' } } = {}): Promise<PortcullisError> {
  const err = await connectBackend({ host: '127.0.0.1', port, user: 'app', database: 'db', password: 'pw', connectTimeoutMs: 2000, ...extra }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PortcullisError);
  return err as PortcullisError;
}

describe('connectBackend against a misbehaving server', () => {
  it('refuses AuthenticationOk before the SCRAM exchange completed', async () => {
    const port = await fakeBackend((socket, parser) => {
      socket.on('data', (d) => {
        for (const m of parser.parse(d)) {
          if (m.type === 'SSLRequest') socket.write(ser.encryptionResponse(false));
          if (m.type === 'StartupMessage') socket.write(ser.authenticationSASL(['SCRAM-SHA-256']));
          if (m.type === 'Password') socket.write(Buffer.concat([ser.authenticationOk(), ser.readyForQuery('I')]));
        }
      });
    });
    const err = await failure(port, { tls: { mode: 'prefer' } });
    expect(err.code).toBe('unauthenticated');
    expect(err.message).toMatch(/ended SCRAM without proving it knows the password/);
  });

  it('refuses unencrypted bytes injected behind the TLS answer (CVE-2021-23222)', async () => {
    const port = await fakeBackend((socket) => {
      socket.once('data', () => socket.write(Buffer.concat([Buffer.from('S'), ser.authenticationOk()])));
    });
    const err = await failure(port, { tls: { mode: 'require' } });
    expect(err.code).toBe('protocol_violation');
    expect(err.message).toMatch(/unexpected byte\(s\) with its answer to SSLRequest/);
  });

  it('refuses unsupported authentication methods by name', async () => {
    const port = await fakeBackend((socket, parser) => {
      socket.on('data', (d) => {
        for (const m of parser.parse(d)) if (m.type === 'StartupMessage') socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 7]));
      });
    });
    const err = await failure(port, { tls: { mode: 'disable' } });
    expect(err.code).toBe('unauthenticated');
    expect(err.message).toMatch(/requests GSS authentication, which Portcullis does not support/);
  });

  it('reports a server that is not PostgreSQL', async () => {
    const port = await fakeBackend((socket) => socket.once('data', () => socket.write('H')));
    const err = await failure(port, { tls: { mode: 'prefer' } });
    expect(err.code).toBe('protocol_violation');
    expect(err.message).toMatch(/answered SSLRequest with 0x48; is it a PostgreSQL server/);
  });

  it('reports a server that hangs up', async () => {
    const port = await fakeBackend((socket) => socket.destroy());
    const err = await failure(port, { tls: { mode: 'prefer' } });
    expect(err.code).toBe('unavailable');
  });
});
