/**
 * Verifies agent tokens (short-lived OIDC JWTs). Every refusal is `unauthenticated` with a message
 * that says what to do and never contains the token: messages end up in logs and in protocol errors
 * that other processes may see.
 */
import { stat, readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { PortcullisError } from '../errors.ts';

export type { JWK } from 'jose';

/** Asymmetric algorithms only: a symmetric one would let anyone holding the public JWKS mint tokens. */
export const DEFAULT_ALGORITHMS: readonly string[] = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

const FORBIDDEN_ALG = /^(none|HS\d+)$/i;

export type JwksSource = { file: string } | { url: string } | { keys: JWK[] };

export interface TokenVerifierOptions {
  issuer: string | string[];
  audience: string;
  jwks: JwksSource;
  algorithms?: string[];
  /** seconds of clock skew tolerated on exp/nbf/iat; default 30 */
  clockToleranceSec?: number;
  /** refuse tokens whose lifetime (exp − iat, or exp − now without iat) exceeds this */
  maxTtlSec?: number;
  /** for tests: the instant to verify at */
  now?: () => Date;
  /**
   * A key set fetched from a URL, and every token verified with it, is trusted this long before the
   * set is fetched again (default 60 s): a key the issuer removes stops being accepted within about
   * twice this, even for tokens verified before.
   */
  remoteRefreshMs?: number;
}

export interface VerifiedToken {
  subject: string;
  issuer: string;
  audience: string | string[];
  expiresAt: Date;
  notBefore?: Date;
  issuedAt?: Date;
  claims: JWTPayload;
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

const MINT_HINT = 'mint a new one with `portcullis token issue --subject NAME`';

function refuse(message: string, cause?: unknown): PortcullisError {
  return new PortcullisError('unauthenticated', message, cause === undefined ? {} : { cause });
}

function iso(seconds: number | undefined): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString().replace('.000Z', 'Z') : 'an unknown time';
}

/** A printable, bounded rendering of an untrusted claim value. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** A key resolver for a JWKS file that re-reads the file whenever it changes on disk (key rotation). */
function fileKeySet(path: string, onReload: () => void): JWTVerifyGetKey {
  let loaded: { stamp: string; resolve: JWTVerifyGetKey; checkedAt: number; kids: Set<string | undefined> } | undefined;
  return async (header, token) => {
    // The file is checked at most once a second (a stat per request is measurable), and at once for
    // a key id the loaded set does not have: that is what a rotation looks like to an agent.
    if (loaded && loaded.kids.has(header.kid) && Date.now() - loaded.checkedAt < 1000) return loaded.resolve(header, token);
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (cause) {
      throw new PortcullisError('failed_precondition', `cannot read the JWKS file ${path}`, { cause });
    }
    if (loaded?.stamp === stamp) loaded.checkedAt = Date.now();
    else {
      let parsed: { keys: JWK[] };
      try {
        parsed = JSON.parse(await readFile(path, 'utf8')) as { keys: JWK[] };
        loaded = { stamp, resolve: createLocalJWKSet(parsed), checkedAt: Date.now(), kids: new Set(parsed.keys.map((k) => k.kid)) };
        // Tokens verified with the old set are verified again: a key removed from the set revokes them.
        onReload();
      } catch (cause) {
        throw new PortcullisError('failed_precondition', `the JWKS file ${path} is not a valid JSON Web Key Set`, { cause });
      }
    }
    return loaded.resolve(header, token);
  };
}

function keyResolver(source: JwksSource, onReload: () => void, refreshMs: number): JWTVerifyGetKey {
  if ('keys' in source) return createLocalJWKSet({ keys: source.keys });
  if ('file' in source) return fileKeySet(source.file, onReload);
  let url: URL;
  try {
    url = new URL(source.url);
  } catch (cause) {
    throw new PortcullisError('invalid_argument', `JWKS url ${show(source.url)} is not a URL`, { cause });
  }
  // jose caches the set, refetches on an unknown kid at most once per cooldown (key rotation without
  // letting a flood of bogus kids hammer the issuer).
  const remote = createRemoteJWKSet(url, { cooldownDuration: Math.min(30_000, refreshMs), cacheMaxAge: refreshMs, timeoutDuration: 5_000 });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      // The issuer being down is not the agent's fault: say so instead of calling the token bad.
      throw new PortcullisError('unavailable', `cannot fetch the issuer key set from ${url.origin}${url.pathname}; try again`, { cause: error });
    }
  };
}

export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const algorithms = opts.algorithms ?? [...DEFAULT_ALGORITHMS];
  const bad = algorithms.filter((a) => FORBIDDEN_ALG.test(a));
  if (bad.length > 0 || algorithms.length === 0) {
    throw new PortcullisError('invalid_argument', `token algorithms ${show(bad)} are not allowed`, {
      details: { hint: 'use asymmetric algorithms only (EdDSA, ES256, RS256, PS256, ...)' },
    });
  }
  const issuers = Array.isArray(opts.issuer) ? opts.issuer : [opts.issuer];
  const tolerance = opts.clockToleranceSec ?? 30;
  const verified = new Map<string, { token: VerifiedToken; until: number }>();
  const refreshMs = opts.remoteRefreshMs ?? 60_000;
  const getKey = keyResolver(opts.jwks, () => verified.clear(), refreshMs);
  const now = opts.now ?? (() => new Date());
  // A local set is watched (a change clears the cache); a remote one can only be fetched again.
  const trustFor = 'url' in opts.jwks ? refreshMs : Infinity;

  // HTTP agents present the same token on every request: its signature and claims were checked the
  // first time, and only time can change the answer (expiry), so a verified token is remembered
  // until it expires. Failures are never cached.
  async function verify(token: string): Promise<VerifiedToken> {
    const hit = typeof token === 'string' ? verified.get(token) : undefined;
    if (hit) {
      if (hit.token.expiresAt.getTime() > now().getTime() && Date.now() < hit.until) return hit.token;
      verified.delete(token);
    }
    const result = await verifyUncached(token);
    if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string);
    verified.set(token, { token: result, until: Date.now() + trustFor });
    return result;
  }

  async function verifyUncached(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0) {
      throw refuse('no token was presented; send a bearer token (mint one with `portcullis token issue --subject NAME`)');
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch (cause) {
      throw refuse('the token is not a well-formed signed JWT (three base64url parts, JSON header)', cause);
    }
    // Checked before any key lookup so `none` and HMAC never reach a verification path.
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
      throw refuse(`token algorithm ${show(header.alg)} is not accepted; allowed: ${algorithms.join(', ')}`);
    }
    const at = now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: issuers,
        audience: opts.audience,
        algorithms,
        clockTolerance: tolerance,
        currentDate: at,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw translate(error, header);
    }
    const exp = payload.exp as number;
    // jose checks iat only against a maximum age: an iat in the future (a token minted on a
    // machine whose clock runs ahead, or forged to look fresh) is refused here.
    if (typeof payload.iat === 'number' && payload.iat > at.getTime() / 1000 + tolerance) {
      throw refuse(`token was issued in the future (${iso(payload.iat)}); check the clock of the issuing machine`);
    }
    if (opts.maxTtlSec !== undefined) {
      const start = typeof payload.iat === 'number' ? payload.iat : Math.floor(at.getTime() / 1000);
      if (exp - start > opts.maxTtlSec + tolerance) {
        throw refuse(`token lifetime of ${exp - start}s exceeds the ${opts.maxTtlSec}s this gateway accepts; ${MINT_HINT} and a shorter --ttl`);
      }
    }
    return {
      subject: payload.sub as string,
      issuer: payload.iss as string,
      audience: payload.aud as string | string[],
      expiresAt: new Date(exp * 1000),
      ...(typeof payload.nbf === 'number' ? { notBefore: new Date(payload.nbf * 1000) } : {}),
      ...(typeof payload.iat === 'number' ? { issuedAt: new Date(payload.iat * 1000) } : {}),
      claims: payload,
    };
  }

  function translate(error: unknown, header: { kid?: string; alg?: string }): PortcullisError {
    if (error instanceof PortcullisError) return error;
    if (error instanceof errors.JWTExpired) {
      return refuse(`token expired at ${iso(error.payload.exp)}; ${MINT_HINT}`, error);
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      const p = error.payload;
      switch (error.claim) {
        case 'nbf':
          return refuse(`token is not valid before ${iso(p.nbf)}; check the clock of the issuing machine or wait`, error);
        case 'iat':
          return refuse(`token was issued in the future (${iso(p.iat)}); check the clock of the issuing machine`, error);
        case 'iss':
          return refuse(`token issuer ${show(p.iss)} is not accepted; expected ${issuers.map((i) => show(i)).join(' or ')}`, error);
        case 'aud':
          return refuse(`token audience ${show(p.aud)} does not include ${show(opts.audience)}; mint the token for this gateway's audience`, error);
        case 'exp':
          return refuse(`token has no valid expiry (exp); only short-lived tokens are accepted; ${MINT_HINT}`, error);
        case 'sub':
          return refuse('token has no subject (sub); the gateway cannot tell which agent it is', error);
        default:
          return refuse(`token claim ${show(error.claim)} is invalid (${error.reason})`, error);
      }
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      return refuse(`no key in the issuer's key set matches the token (kid ${show(header.kid)}, alg ${show(header.alg)}); the token was signed by an unknown or rotated-out key`, error);
    }
    if (error instanceof errors.JWKSMultipleMatchingKeys) {
      return refuse(`several keys in the issuer's key set match the token (kid ${show(header.kid)}); the issuer must give keys distinct kids`, error);
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return refuse('token signature is invalid: it was not signed by the issuer or was altered after signing', error);
    }
    if (error instanceof errors.JOSEAlgNotAllowed) {
      return refuse(`token algorithm ${show(header.alg)} is not accepted; allowed: ${algorithms.join(', ')}`, error);
    }
    if (error instanceof errors.JWKSTimeout) {
      return new PortcullisError('unavailable', 'timed out fetching the issuer key set (JWKS); try again', { cause: error });
    }
    if (error instanceof errors.JOSEError) {
      return refuse(`token is malformed or unsupported (${error.code})`, error);
    }
    return PortcullisError.from(error, 'internal', 'token verification failed unexpectedly');
  }

  return { verify };
}
