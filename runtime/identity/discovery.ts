/**
 * OpenID Connect discovery: the issuer's `/.well-known/openid-configuration` names its key set
 * (`jwks_uri`), so an operator gives only `--issuer`. The document must name the same issuer
 * (OpenID Connect Discovery 1.0, section 4.3): a document for another issuer is refused, not followed.
 */
import { PortcullisError } from '../errors.ts';

export interface DiscoveredIssuer {
  issuer: string;
  jwksUri: string;
}

export async function discoverIssuer(issuer: string, timeoutMs = 10_000): Promise<DiscoveredIssuer> {
  let base: URL;
  try {
    base = new URL(issuer);
  } catch (cause) {
    throw new PortcullisError('invalid_argument', `--issuer ${JSON.stringify(issuer)} is not a URL, so its discovery document cannot be fetched`, {
      cause,
      details: { hint: 'pass the issuer URL exactly as tokens carry it in iss, or give --jwks' },
    });
  }
  const where = new URL(`${base.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`, base);
  let doc: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const response = await fetch(where, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = (await response.json()) as typeof doc;
  } catch (cause) {
    throw new PortcullisError('unavailable', `cannot fetch the OpenID configuration of ${issuer} from ${where.href}: ${(cause as Error).message}`, {
      cause,
      details: { hint: 'check that the issuer is reachable from the gateway, or give its key set with --jwks' },
    });
  }
  if (doc.issuer !== issuer) {
    throw new PortcullisError('invalid_argument', `the OpenID configuration at ${where.href} is for issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}`, {
      details: { hint: 'pass --issuer exactly as the provider names itself (trailing slash included)' },
    });
  }
  if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) {
    throw new PortcullisError('invalid_argument', `the OpenID configuration of ${issuer} has no usable jwks_uri`, { details: { hint: 'give the key set with --jwks' } });
  }
  return { issuer, jwksUri: doc.jwks_uri };
}
