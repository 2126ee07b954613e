/**
 * How long a token may live, from the policy repo: the identity's `maxTokenLifetime`, else the
 * repository's, else a day. A stolen long-lived token is standing access; the bound is a reviewed
 * part of the repo, not a flag of whoever runs the gateway.
 */
import { PortcullisError } from '../errors.ts';
import { formatDuration, parseDuration } from '../engine/duration.ts';
import type { Bundle } from '../bundle/model.ts';
import type { VerifiedToken } from './verify.ts';

export const DEFAULT_MAX_TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;
/** the clock skew tolerated between the issuer and the gateway, as for exp and nbf */
const SKEW_MS = 30_000;

/** by bundle (immutable once loaded) and identity name: read on every request */
const lifetimes = new WeakMap<Bundle, Map<string, number>>();

export function maxTokenLifetimeMs(bundle: Bundle, identity: string): number {
  let byIdentity = lifetimes.get(bundle);
  if (!byIdentity) lifetimes.set(bundle, (byIdentity = new Map()));
  let ms = byIdentity.get(identity);
  if (ms === undefined) {
    ms = lifetimeOf(bundle, identity);
    // names come from the bundle's own identities, so the map is bounded by the bundle
    byIdentity.set(identity, ms);
  }
  return ms;
}

function lifetimeOf(bundle: Bundle, identity: string): number {
  const own = [...bundle.identities.values()].find((i) => i.doc.metadata.name === identity)?.doc.spec.maxTokenLifetime;
  const text = own ?? bundle.repository.spec?.maxTokenLifetime;
  return text ? parseDuration(text) : DEFAULT_MAX_TOKEN_LIFETIME_MS;
}

/** Refuse a token that lives longer than its identity may (lifetime from iat, or from now without one). */
export function checkTokenLifetime(token: Pick<VerifiedToken, 'expiresAt' | 'issuedAt'>, identity: string, bundle: Bundle, now: Date): void {
  const max = maxTokenLifetimeMs(bundle, identity);
  const from = token.issuedAt ?? now;
  const lifetime = token.expiresAt.getTime() - from.getTime();
  if (lifetime > max + SKEW_MS) {
    throw new PortcullisError('unauthenticated', `token lifetime of ${formatDuration(lifetime)} exceeds the ${formatDuration(max)} the policy repo allows for identity '${identity}'`, {
      details: { hint: 'mint a shorter-lived token (maxTokenLifetime in portcullis.yaml or on the Identity sets the bound)' },
    });
  }
}
