import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDevIssuer, issueToken } from '../../runtime/identity/dev-key.ts';
import { formatDuration, parseDuration } from '../../runtime/engine/duration.ts';
import { createTokenVerifier } from '../../runtime/identity/verify.ts';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});
async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pc-identity-'));
  dirs.push(d);
  return d;
}

describe('parseDuration', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
  it('refuses bad input with invalid_argument', () => {
    for (const bad of ['', '15', 'm', '1.5h', '-1m', '0s', '15 minutes', '1w']) {
      expect(() => parseDuration(bad), bad).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    }
  });
});

describe('dev issuer', () => {
  it('creates one key pair, private file 0600, and tokens the verifier accepts', async () => {
    const dir = await dataDir();
    const [a, b] = await Promise.all([ensureDevIssuer(dir), ensureDevIssuer(dir)]);
    expect(a.kid).toBe(b.kid);
    expect((await stat(join(dir, 'dev-issuer', 'private.jwk.json'))).mode & 0o777).toBe(0o600);
    const jwks = JSON.parse(await readFile(a.jwksPath, 'utf8')) as { keys: { kid: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]?.d).toBeUndefined();

    const { token, expiresAt } = await issueToken({ dataDir: dir, subject: 'agent-1', ttl: '15m', groups: ['agents'], extraClaims: { team: 'data' } });
    expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(14 * 60_000);
    const verifier = createTokenVerifier({ issuer: a.issuer, audience: a.audience, jwks: { file: a.jwksPath }, maxTtlSec: 3600 });
    const verified = await verifier.verify(token);
    expect(verified).toMatchObject({ subject: 'agent-1', issuer: 'portcullis-dev' });
    expect(verified.claims).toMatchObject({ groups: ['agents'], team: 'data' });
  });

  it('refuses extra claims that would override reserved ones', async () => {
    const dir = await dataDir();
    await expect(issueToken({ dataDir: dir, subject: 'a', ttl: '1m', extraClaims: { sub: 'admin' } })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(issueToken({ dataDir: dir, subject: 'a', ttl: 'soon' })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('reloads a JWKS file when it changes (key rotation)', async () => {
    const dir = await dataDir();
    const file = join(dir, 'jwks.json');
    const k1 = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const k2 = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(k1.publicKey)), kid: 'one' }] }));
    const verifier = createTokenVerifier({ issuer: 'i', audience: 'a', jwks: { file } });
    const sign = (k: CryptoKeyLike, kid: string) => new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid }).setIssuer('i').setAudience('a').setSubject('s').setExpirationTime('5m').sign(k);
    await expect(verifier.verify(await sign(k1.privateKey, 'one'))).resolves.toMatchObject({ subject: 's' });
    const rotated = await sign(k2.privateKey, 'two');
    await expect(verifier.verify(rotated)).rejects.toMatchObject({ code: 'unauthenticated' });
    await writeFile(
      file,
      JSON.stringify({
        keys: [
          { ...(await exportJWK(k2.publicKey)), kid: 'two' },
          { kty: 'OKP', crv: 'Ed25519', x: (await exportJWK(k1.publicKey)).x, kid: 'one' },
        ],
      }),
    );
    await expect(verifier.verify(rotated)).resolves.toMatchObject({ subject: 's' });
  });
});

describe('verified tokens are remembered, never beyond what verification would say', () => {
  it('refuses a remembered token once it expires, and once its key leaves the key set', async () => {
    const dir = await dataDir();
    const file = join(dir, 'jwks.json');
    const k1 = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(k1.publicKey)), kid: 'one' }] }));
    let clock = new Date();
    const verifier = createTokenVerifier({ issuer: 'i', audience: 'a', jwks: { file }, clockToleranceSec: 0, now: () => clock });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'one' }).setIssuer('i').setAudience('a').setSubject('s').setExpirationTime('5m').sign(k1.privateKey);
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 's' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 's' });
    clock = new Date(clock.getTime() + 6 * 60_000);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('expired') });

    clock = new Date();
    const fresh = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'one' }).setIssuer('i').setAudience('a').setSubject('s').setExpirationTime('5m').sign(k1.privateKey);
    await expect(verifier.verify(fresh)).resolves.toMatchObject({ subject: 's' });
    const k2 = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(k2.publicKey)), kid: 'two' }] }));
    // a token under the new key makes the verifier look at the file again; the old key is gone
    const other = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'two' }).setIssuer('i').setAudience('a').setSubject('t').setExpirationTime('5m').sign(k2.privateKey);
    await expect(verifier.verify(other)).resolves.toMatchObject({ subject: 't' });
    await expect(verifier.verify(fresh)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

type CryptoKeyLike = Parameters<SignJWT['sign']>[0];
