/**
 * Maps a verified token to an Identity of the policy bundle. Policies speak about identities and
 * groups, never about raw claims, so this is the only place where issuer/subject/claims meet policy.
 *
 * Matching rules (the schema documents the same):
 * - an identity matches when every field it gives matches: `issuer` and `subject` by equality;
 *   each `claims` entry by value — a string must equal a string claim or be an element of an array
 *   claim; a list of strings matches when any one of them does;
 * - an identity that gives no match field at all never matches (a catch-all would silently admit
 *   every token the issuer ever signs);
 * - groups are the identity's `groups`, plus the token's groups claim only when the identity opts in
 *   with `match.groupsClaim: true` (the `groups` claim) or `match.groupsClaim: "claimName"`: by
 *   default the bundle, which is reviewed in Git, is the sole authority on group membership;
 * - several matches: the most specific wins (issuer, subject and each claim count one field); a tie is
 *   an error naming the identities, because silently picking one would make access depend on order.
 */
import { PortcullisError } from '../errors.ts';
import type { VerifiedToken } from './verify.ts';

export interface IdentitySpec {
  name: string;
  kind: 'agent' | 'human';
  match: {
    issuer?: string;
    subject?: string;
    claims?: Record<string, string | string[]>;
    /** take extra groups from the token: true = the `groups` claim, a string = that claim */
    groupsClaim?: boolean | string;
  };
  /** optional as in schema/identity.schema.json */
  groups?: string[];
}

export interface ResolvedIdentity {
  name: string;
  kind: 'agent' | 'human';
  groups: string[];
}

export type TokenFacts = Pick<VerifiedToken, 'subject' | 'issuer' | 'claims'>;

export interface IdentityResolver {
  resolve(token: TokenFacts): ResolvedIdentity;
}

function specificity(spec: IdentitySpec): number {
  const m = spec.match;
  return (m.issuer !== undefined ? 1 : 0) + (m.subject !== undefined ? 1 : 0) + Object.keys(m.claims ?? {}).length;
}

function claimHas(claim: unknown, wanted: string): boolean {
  if (Array.isArray(claim)) return claim.some((v) => scalar(v) === wanted);
  return scalar(claim) === wanted;
}

function scalar(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

function matches(spec: IdentitySpec, token: TokenFacts): boolean {
  const m = spec.match;
  if (m.issuer !== undefined && m.issuer !== token.issuer) return false;
  if (m.subject !== undefined && m.subject !== token.subject) return false;
  for (const [name, wanted] of Object.entries(m.claims ?? {})) {
    const claim = (token.claims as Record<string, unknown>)[name];
    const options = Array.isArray(wanted) ? wanted : [wanted];
    if (!options.some((w) => claimHas(claim, w))) return false;
  }
  return true;
}

function tokenGroups(spec: IdentitySpec, token: TokenFacts): string[] {
  const opt = spec.match.groupsClaim;
  if (!opt) return [];
  const claim = (token.claims as Record<string, unknown>)[opt === true ? 'groups' : opt];
  const values = Array.isArray(claim) ? claim : claim === undefined ? [] : [claim];
  return values.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** Builds the subject index once per bundle; `resolve` is then O(1) in the number of identities. */
export function createIdentityResolver(identities: readonly IdentitySpec[]): IdentityResolver {
  const bySubject = new Map<string, IdentitySpec[]>();
  const withoutSubject: IdentitySpec[] = [];
  for (const spec of identities) {
    if (specificity(spec) === 0) continue;
    const sub = spec.match.subject;
    if (sub === undefined) withoutSubject.push(spec);
    else {
      const list = bySubject.get(sub);
      if (list) list.push(spec);
      else bySubject.set(sub, [spec]);
    }
  }

  // The token verifier hands back the same VerifiedToken object for as long as it trusts a token,
  // and this resolver lives as long as its bundle's identities: the answer for that pair cannot
  // change, so it is worked out once. Refusals are not remembered.
  const resolved = new WeakMap<TokenFacts, ResolvedIdentity>();

  return {
    resolve(token) {
      const known = resolved.get(token);
      // a copy: a caller that edits its groups must not edit the next request's
      if (known) return { name: known.name, kind: known.kind, groups: [...known.groups] };
      const identity = resolveUncached(token);
      resolved.set(token, { name: identity.name, kind: identity.kind, groups: [...identity.groups] });
      return identity;
    },
  };

  function resolveUncached(token: TokenFacts): ResolvedIdentity {
    const candidates = [...(bySubject.get(token.subject) ?? []), ...withoutSubject];
    let best: IdentitySpec[] = [];
    let bestScore = 0;
    for (const spec of candidates) {
      if (!matches(spec, token)) continue;
      const score = specificity(spec);
      if (score > bestScore) {
        best = [spec];
        bestScore = score;
      } else if (score === bestScore) best.push(spec);
    }
    const [winner] = best;
    if (!winner) {
      throw new PortcullisError('unauthenticated', `no identity in the policy bundle matches subject ${JSON.stringify(token.subject)} from issuer ${JSON.stringify(token.issuer)}`, {
        details: { hint: 'add a kind: Identity document whose match names this issuer and subject (or a claim the token carries)' },
      });
    }
    if (best.length > 1) {
      const names = best.map((s) => s.name).sort();
      throw new PortcullisError('unauthenticated', `subject ${JSON.stringify(token.subject)} from issuer ${JSON.stringify(token.issuer)} matches several identities equally: ${names.join(', ')}`, {
        details: { hint: 'make their match rules distinct, or give one of them a more specific match', identities: names },
      });
    }
    const groups = [...new Set([...(winner.groups ?? []), ...tokenGroups(winner, token)])];
    return { name: winner.name, kind: winner.kind, groups };
  }
}

const cache = new WeakMap<readonly IdentitySpec[], IdentityResolver>();

/** Convenience for callers holding the bundle's identity array; the index is cached per array. */
export function resolveIdentity(identities: readonly IdentitySpec[], token: TokenFacts): ResolvedIdentity {
  let resolver = cache.get(identities);
  if (!resolver) {
    resolver = createIdentityResolver(identities);
    cache.set(identities, resolver);
  }
  return resolver.resolve(token);
}
