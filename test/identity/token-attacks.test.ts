import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { PortcullisError } from '../../runtime/errors.ts';
import { createTokenVerifier, type TokenVerifier } from '../../runtime/identity/verify.ts';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'portcullis';
const NOW = new Date('2026-11-25T03:00:00Z');
const nowSec = Math.floor(NOW.getTime() / 1000);

let key: CryptoKey;
let publicJwk: JWK;
let publicPem: string;
let otherKey: CryptoKey;
let verifier: TokenVerifier;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  publicPem = await exportSPKI(pair.publicKey);
  otherKey = (await generateKeyPair('ES256', { extractable: true })).privateKey;
  verifier = createTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: { keys: [publicJwk] },
    maxTtlSec: 3600,
    clockToleranceSec: 5,
    now: () => NOW,
  });
});

interface Mint {
  claims?: JWTPayload;
  signWith?: CryptoKey;
  kid?: string;
  iss?: string;
  aud?: string;
  iat?: number;
  nbf?: number;
  exp?: number | null;
}

async function mint(m: Mint = {}): Promise<string> {
  const jwt = new SignJWT({ ...m.claims })
    .setProtectedHeader({ alg: 'ES256', kid: m.kid ?? 'k1' })
    .setIssuer(m.iss ?? ISSUER)
    .setAudience(m.aud ?? AUDIENCE)
    .setSubject('agent-7')
    .setIssuedAt(m.iat ?? nowSec - 60);
  if (m.nbf !== undefined) jwt.setNotBefore(m.nbf);
  if (m.exp !== null) jwt.setExpirationTime(m.exp ?? nowSec + 600);
  return jwt.sign(m.signWith ?? key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const payload = (over: JWTPayload = {}) => ({ iss: ISSUER, aud: AUDIENCE, sub: 'agent-7', iat: nowSec - 60, exp: nowSec + 600, ...over });

function hs256(secret: string | Buffer, body: JWTPayload = payload()): string {
  const input = `${b64({ alg: 'HS256', kid: 'k1', typ: 'JWT' })}.${b64(body)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function expectRefused(token: string, pattern: RegExp): Promise<PortcullisError> {
  const error = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'token was accepted').toBeInstanceOf(PortcullisError);
  const err = error as PortcullisError;
  expect(err.code).toBe('unauthenticated');
  expect(err.message).toMatch(pattern);
  for (const part of token.split('.').filter((p) => p.length > 8)) {
    expect(err.message).not.toContain(part);
    expect(err.describe()).not.toContain(part);
  }
  return err;
}

describe('token verification', () => {
  it('accepts a valid token', async () => {
    const verified = await verifier.verify(await mint({ claims: { groups: ['agents'] } }));
    expect(verified).toMatchObject({ subject: 'agent-7', issuer: ISSUER, audience: AUDIENCE });
    expect(verified.expiresAt.toISOString()).toBe(new Date((nowSec + 600) * 1000).toISOString());
    expect(verified.issuedAt?.getTime()).toBe((nowSec - 60) * 1000);
    expect(verified.claims.groups).toEqual(['agents']);
  });

  it('refuses a token forged with another key under the real kid', async () => {
    await expectRefused(await mint({ signWith: otherKey }), /signature is invalid/);
  });

  it('refuses an expired token, saying when and how to get a new one', async () => {
    const err = await expectRefused(await mint({ iat: nowSec - 4000, exp: nowSec - 3600 }), /expired at/);
    expect(err.message).toBe(`token expired at ${new Date((nowSec - 3600) * 1000).toISOString().replace('.000Z', 'Z')}; mint a new one with \`portcullis token issue --subject NAME\``);
  });

  it('refuses a token not yet valid', async () => {
    await expectRefused(await mint({ nbf: nowSec + 300 }), /not valid before/);
  });

  it('refuses a wrong issuer', async () => {
    await expectRefused(await mint({ iss: 'https://evil.example' }), /issuer "https:\/\/evil.example" is not accepted/);
  });

  it('refuses a wrong audience', async () => {
    await expectRefused(await mint({ aud: 'some-other-api' }), /audience/);
  });

  it('refuses an unknown kid', async () => {
    await expectRefused(await mint({ kid: 'k2', signWith: otherKey }), /no key .* matches/);
  });

  it('refuses alg none', async () => {
    await expectRefused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload())}.`, /algorithm "none" is not accepted/);
    await expectRefused(`${b64({ alg: 'NONE' })}.${b64(payload())}.`, /algorithm "NONE" is not accepted/);
  });

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    await expectRefused(hs256(publicPem), /algorithm "HS256" is not accepted/);
    await expectRefused(hs256(JSON.stringify(publicJwk)), /algorithm "HS256"/);
    await expectRefused(hs256(Buffer.from(publicJwk.x as string, 'base64url')), /algorithm "HS256"/);
  });

  it('refuses a tampered payload carrying the original signature', async () => {
    const [h, , s] = (await mint()).split('.');
    await expectRefused(`${h}.${b64(payload({ sub: 'admin' }))}.${s}`, /signature is invalid/);
  });

  it('refuses a token without exp', async () => {
    await expectRefused(await mint({ exp: null }), /no valid expiry/);
  });

  it('refuses a lifetime beyond maxTtlSec', async () => {
    await expectRefused(await mint({ iat: nowSec - 10, exp: nowSec + 7200 }), /lifetime of 7210s exceeds the 3600s/);
  });

  it('refuses garbage and empty tokens', async () => {
    await expectRefused('not-a-jwt-at-all-xxxxxxxx', /not a well-formed/);
    await expectRefused('', /no token/);
  });

  it('refuses to be configured with symmetric or none algorithms', () => {
    for (const algorithms of [['HS256'], ['none'], ['ES256', 'HS512'], []]) {
      expect(() => createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [publicJwk] }, algorithms })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    }
  });
});
