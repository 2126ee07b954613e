import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../runtime/identity/verify.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

describe('JWKS from a URL', () => {
  it('fetches the key set once, and reports an unreachable issuer as unavailable', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
    let fetches = 0;
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const verifier = createTokenVerifier({ issuer: 'i', audience: 'a', jwks: { url } });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('i').setAudience('a').setSubject('s').setExpirationTime('5m').sign(privateKey);
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 's' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 's' });
    expect(fetches).toBe(1);

    const down = createTokenVerifier({ issuer: 'i', audience: 'a', jwks: { url: 'http://127.0.0.1:9/jwks.json' } });
    await expect(down.verify(token)).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('stops accepting a token, verified before, once the issuer removes its key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const k1 = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    let keys: unknown[] = [k1];
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const verifier = createTokenVerifier({ issuer: 'i', audience: 'a', jwks: { url }, remoteRefreshMs: 100 });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('i').setAudience('a').setSubject('s').setExpirationTime('5m').sign(privateKey);
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 's' });
    keys = [];
    await new Promise((r) => setTimeout(r, 250));
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});
