import { describe, expect, it } from 'vitest';
import { createIdentityResolver, resolveIdentity, type IdentitySpec } from '../../runtime/identity/resolve.ts';

const ISS = 'https://issuer.example';
const token = (subject: string, claims: Record<string, unknown> = {}, issuer = ISS) => ({
  subject,
  issuer,
  claims: { sub: subject, iss: issuer, ...claims },
});

const identities: IdentitySpec[] = [
  { name: 'billing-agent', kind: 'agent', match: { issuer: ISS, subject: 'agent-billing' }, groups: ['agents', 'billing'] },
  { name: 'any-agent', kind: 'agent', match: { issuer: ISS, claims: { role: 'agent' } }, groups: ['agents'] },
  { name: 'ops-agent', kind: 'agent', match: { issuer: ISS, claims: { groups: ['ops', 'sre'], role: 'agent' } }, groups: ['agents', 'ops'] },
  { name: 'alice', kind: 'human', match: { issuer: ISS, subject: 'alice', groupsClaim: true }, groups: ['approvers'] },
  { name: 'bob', kind: 'human', match: { subject: 'bob', groupsClaim: 'teams' }, groups: [] },
  { name: 'catch-all', kind: 'agent', match: {}, groups: ['everyone'] },
  { name: 'twin-a', kind: 'agent', match: { issuer: ISS, subject: 'twin' }, groups: [] },
  { name: 'twin-b', kind: 'agent', match: { issuer: ISS, subject: 'twin' }, groups: [] },
];

describe('resolveIdentity', () => {
  it('matches issuer and subject', () => {
    expect(resolveIdentity(identities, token('agent-billing'))).toEqual({ name: 'billing-agent', kind: 'agent', groups: ['agents', 'billing'] });
  });

  it('matches claims: string equal, or contained in an array claim; a list means any of', () => {
    expect(resolveIdentity(identities, token('x', { role: 'agent' })).name).toBe('any-agent');
    expect(resolveIdentity(identities, token('x', { role: ['reader', 'agent'] })).name).toBe('any-agent');
    // more specific (three fields) beats any-agent (two)
    expect(resolveIdentity(identities, token('y', { role: 'agent', groups: ['dev', 'sre'] })).name).toBe('ops-agent');
  });

  it('takes groups from the token only when the identity opts in', () => {
    expect(resolveIdentity(identities, token('alice', { groups: ['dba', 'approvers'] })).groups).toEqual(['approvers', 'dba']);
    expect(resolveIdentity(identities, token('bob', { teams: 'platform' }, 'other-issuer')).groups).toEqual(['platform']);
    expect(resolveIdentity(identities, token('agent-billing', { groups: ['admins'] })).groups).toEqual(['agents', 'billing']);
  });

  it('refuses a token no identity matches, naming subject and issuer; an empty match never matches', () => {
    expect(() => resolveIdentity(identities, token('stranger'))).toThrow(
      expect.objectContaining({ code: 'unauthenticated', message: 'no identity in the policy bundle matches subject "stranger" from issuer "https://issuer.example"' }),
    );
    expect(() => resolveIdentity(identities, token('agent-billing', {}, 'https://evil.example'))).toThrow(expect.objectContaining({ code: 'unauthenticated' }));
  });

  it('refuses an ambiguous tie, naming the identities', () => {
    expect(() => resolveIdentity(identities, token('twin'))).toThrow(expect.objectContaining({ code: 'unauthenticated', message: expect.stringContaining('twin-a, twin-b') }));
  });

  it('resolves among many identities through the subject index', () => {
    const many: IdentitySpec[] = Array.from({ length: 20_000 }, (_, i) => ({
      name: `agent-${i}`,
      kind: 'agent',
      match: { issuer: ISS, subject: `sub-${i}` },
      groups: ['agents'],
    }));
    const resolver = createIdentityResolver(many);
    // 20k lookups over 20k identities: a linear scan would be 4e8 matches, the index makes it 20k
    for (let i = 0; i < 20_000; i++) expect(resolver.resolve(token(`sub-${i}`)).name).toBe(`agent-${i}`);
  });
});

describe('a resolution remembered per verified token', () => {
  it('answers the same token object alike, with groups of its own each time, and a new bundle afresh', () => {
    const verified = token('agent-billing');
    const resolver = createIdentityResolver(identities);
    const first = resolver.resolve(verified);
    first.groups.push('admins');
    expect(resolver.resolve(verified)).toEqual({ name: 'billing-agent', kind: 'agent', groups: ['agents', 'billing'] });
    // a reload is a new identities array: the identity it dropped no longer matches
    const reloaded = identities.filter((i) => i.name !== 'billing-agent');
    expect(() => resolveIdentity(reloaded, verified)).toThrow(/no identity in the policy bundle matches/);
  });

  it('does not remember a refusal', () => {
    const verified = token('twin');
    const resolver = createIdentityResolver(identities);
    expect(() => resolver.resolve(verified)).toThrow(/matches several identities/);
    expect(() => resolver.resolve(verified)).toThrow(/matches several identities/);
  });
});
