/**
 * The local development issuer: an Ed25519 key pair created once per data directory, so
 * `portcullis up` and `portcullis token issue` work with no identity provider. Production deployments
 * point the verifier at their real issuer's JWKS instead.
 */
import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { PortcullisError } from '../errors.ts';
import { parseDuration } from '../engine/duration.ts';

export const DEV_ISSUER = 'portcullis-dev';
export const DEV_AUDIENCE = 'portcullis';
const ALG = 'EdDSA';

export interface DevIssuer {
  issuer: string;
  audience: string;
  /** public JWKS file for `createTokenVerifier({ jwks: { file } })` */
  jwksPath: string;
  privateKey: CryptoKey;
  kid: string;
}

export interface IssueTokenOptions {
  dataDir: string;
  subject: string;
  /** '30s', '15m', '2h', '1d' */
  ttl: string;
  groups?: string[];
  audience?: string;
  extraClaims?: Record<string, unknown>;
  /** for tests: the issue instant */
  now?: Date;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** Claims the issuer sets itself; extraClaims may not override them (a dev token is still honest). */
const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti']);

function paths(dataDir: string) {
  const dir = join(dataDir, 'dev-issuer');
  return { dir, privatePath: join(dir, 'private.jwk.json'), jwksPath: join(dir, 'jwks.json') };
}

async function readPrivateJwk(path: string): Promise<JWK | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PortcullisError('failed_precondition', `cannot read the dev issuer key ${path}`, { cause: error });
  }
}

/** Creates the key pair on first use; concurrent callers (two CLI processes) converge on one key. */
export async function ensureDevIssuer(dataDir: string): Promise<DevIssuer> {
  const { dir, privatePath, jwksPath } = paths(dataDir);
  let jwk = await readPrivateJwk(privatePath);
  if (!jwk) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const { privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
      const fresh = await exportJWK(privateKey);
      fresh.kid = await calculateJwkThumbprint(fresh);
      fresh.alg = ALG;
      fresh.use = 'sig';
      const tmp = `${privatePath}.${randomUUID()}.tmp`;
      await writeFile(tmp, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600 });
      await chmod(tmp, 0o600); // the umask may have widened nothing, but be explicit
      // link() fails if the file exists: whoever links first wins, the others read the winner's key.
      try {
        await link(tmp, privatePath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
    } catch (error) {
      throw new PortcullisError('failed_precondition', `cannot create the dev issuer key under ${dir}`, { cause: error });
    }
    jwk = await readPrivateJwk(privatePath);
    if (!jwk) throw new PortcullisError('internal', `dev issuer key ${privatePath} vanished after creation`);
  }
  const { d: _secret, ...publicJwk } = jwk;
  const kid = publicJwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  const jwks = `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: ALG, use: 'sig' }] }, null, 2)}\n`;
  const existing = await readFile(jwksPath, 'utf8').catch(() => undefined);
  if (existing !== jwks) {
    const tmp = `${jwksPath}.${randomUUID()}.tmp`;
    await writeFile(tmp, jwks, { mode: 0o644 });
    await rename(tmp, jwksPath);
  }
  const privateKey = (await importJWK(jwk, ALG)) as CryptoKey;
  return { issuer: DEV_ISSUER, audience: DEV_AUDIENCE, jwksPath, privateKey, kid };
}

export async function issueToken(opts: IssueTokenOptions): Promise<IssuedToken> {
  if (typeof opts.subject !== 'string' || opts.subject.trim() === '') {
    throw new PortcullisError('invalid_argument', 'a token needs a subject', { details: { hint: 'pass --subject NAME' } });
  }
  const ttlMs = parseDuration(opts.ttl);
  const issuer = await ensureDevIssuer(opts.dataDir);
  const extra = opts.extraClaims ?? {};
  const clash = Object.keys(extra).filter((k) => RESERVED.has(k));
  if (clash.length > 0) {
    throw new PortcullisError('invalid_argument', `extra claims may not set ${clash.join(', ')}; use the dedicated options`);
  }
  const nowSec = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const exp = nowSec + Math.max(1, Math.ceil(ttlMs / 1000));
  const payload: JWTPayload = { ...extra, ...(opts.groups ? { groups: [...opts.groups] } : {}) };
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: ALG, kid: issuer.kid, typ: 'JWT' })
    .setIssuer(issuer.issuer)
    .setSubject(opts.subject)
    .setAudience(opts.audience ?? issuer.audience)
    .setIssuedAt(nowSec)
    .setNotBefore(nowSec)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(issuer.privateKey);
  return { token, expiresAt: new Date(exp * 1000) };
}
