/**
 * A target's declared path semantics in the engine and in the CLI's request lines (simulate, test,
 * explain), so a decision there is the gateway's: case folding, `;params` stripped, trailing slash kept.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { bundleOf, identities } from './helpers.ts';

const header = 'apiVersion: portcullis.dev/v1';
const target = (name: string, paths: string) => `${header}
kind: Target
metadata: { name: ${name} }
spec:
  type: http
  url: http://127.0.0.1:9
${paths ? `  paths: ${paths}\n` : ''}`;

const POLICY = `${header}
kind: Policy
metadata: { name: p }
spec:
  subjects: [{ group: agents }]
  targets: [express, servlet, strict, plain]
  rules:
    - { id: read, effect: allow, actions: [GET], resources: ["/**"] }
    - { id: no-admin, effect: deny, actions: [GET], resources: ["/admin/**", "/Exact"] }
`;

const bundle = bundleOf({
  't.yaml': [
    target('express', '{ caseSensitive: false, trailingSlash: ignored, semicolonParameters: literal }'),
    target('servlet', '{ caseSensitive: true, trailingSlash: ignored, semicolonParameters: stripped }'),
    target('strict', '{ caseSensitive: true, trailingSlash: significant, semicolonParameters: literal }'),
    target('plain', ''),
  ].join('---\n'),
  'i.yaml': identities,
  'p.yaml': POLICY,
});

const effect = (t: string, line: string) => decide(bundle, buildRequests(bundle, { as: 'bot', target: t, http: line })[0]!).effect;

describe('declared path semantics', () => {
  it('folds case for a case-insensitive target, in globs and exact patterns', () => {
    expect(effect('express', 'GET /ADMIN/users')).toBe('deny');
    expect(effect('express', 'GET /exact')).toBe('deny');
    expect(effect('plain', 'GET /ADMIN/users')).toBe('allow');
  });

  it('strips ;parameters for a target that says its upstream does', () => {
    expect(effect('servlet', 'GET /admin;jsessionid=1/users')).toBe('deny');
    expect(effect('plain', 'GET /admin;jsessionid=1/users')).toBe('allow');
  });

  it('keeps a significant trailing slash', () => {
    expect(buildRequests(bundle, { as: 'bot', target: 'strict', http: 'GET /a/b/' })[0]).toMatchObject({ path: '/a/b/' });
    expect(buildRequests(bundle, { as: 'bot', target: 'plain', http: 'GET /a/b/' })[0]).toMatchObject({ path: '/a/b' });
  });
});
