/**
 * The HTTP verdict cache (runtime/protocols/http/verdicts.ts) reuses an allow only for the same
 * bundle, subject, target, method, path and query, and never for a target with time windows; the
 * directly encoded request record is the canonical encoding of the request.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import type { HttpRequest } from '../../runtime/engine/request.ts';
import { canonical } from '../../runtime/encoding/canonical.ts';
import { parseQuery } from '../../runtime/requests/http.ts';
import { httpVerdict } from '../../runtime/protocols/http/verdicts.ts';
import { encodedHttpRequest } from '../../runtime/protocols/http/request.ts';
import { bundleOf, identities } from '../engine/helpers.ts';

const header = 'apiVersion: portcullis.dev/v1';
const targets = `${header}
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:9
---
${header}
kind: Target
metadata: { name: timed }
spec:
  type: http
  url: http://127.0.0.1:9
`;

const policy = (rules: string) => `${header}
kind: Policy
metadata: { name: p }
spec:
  subjects: [{ group: agents }]
  targets: [api]
  rules:
${rules}
---
${header}
kind: Policy
metadata: { name: t }
spec:
  subjects: [{ group: agents }]
  targets: [timed]
  rules:
    - { id: office, effect: allow, actions: [GET], resources: ["/**"], when: { time: { days: [mon, tue, wed, thu, fri], between: "09:00-17:00", timezone: UTC } } }
`;

const OPEN = policy(`    - { id: read, effect: allow, actions: [GET], resources: ["/**"] }
    - { id: no-admin, effect: deny, actions: [GET], resources: ["/admin/**"] }
    - { id: no-limit, effect: deny, actions: [GET], resources: ["/**"], when: { query: { limit: "^1000$" } } }`);

function req(method: string, path: string, search = '', extra: Partial<HttpRequest> = {}): HttpRequest {
  return { protocol: 'http', subject: { identity: 'bot', groups: ['agents'] }, target: 'api', at: '2026-11-25T10:00:00Z', method, path, query: parseQuery(search), ...extra };
}

describe('HTTP verdict cache', () => {
  it('reuses the same allow for the same request, and decides a different path, method or query again', () => {
    const b = bundleOf({ 't.yaml': targets, 'i.yaml': identities, 'p.yaml': OPEN });
    const first = httpVerdict(b, req('GET', '/customers/1'), '').decision;
    expect(first.effect).toBe('allow');
    expect(httpVerdict(b, req('GET', '/customers/1'), '').decision).toBe(first);
    // its encoding, written once per log and referenced, is the decision's own
    expect(httpVerdict(b, req('GET', '/customers/1'), '').encoded?.json).toBe(canonical(first));
    expect(httpVerdict(b, req('GET', '/admin/users'), '').decision.effect).toBe('deny');
    expect(httpVerdict(b, req('DELETE', '/customers/1'), '').decision.effect).toBe('deny');
    expect(httpVerdict(b, req('GET', '/customers/1', 'limit=1000'), 'limit=1000').decision.effect).toBe('deny');
    // a different subject is decided on its own
    expect(httpVerdict(b, req('GET', '/customers/1', '', { subject: { identity: 'admin', groups: ['dba'] } }), '').decision.effect).toBe('deny');
  });

  it('decides again under a changed bundle', () => {
    const before = bundleOf({ 't.yaml': targets, 'i.yaml': identities, 'p.yaml': OPEN });
    expect(httpVerdict(before, req('GET', '/customers/1'), '').decision.effect).toBe('allow');
    const after = bundleOf({
      't.yaml': targets,
      'i.yaml': identities,
      'p.yaml': policy(`    - { id: read, effect: allow, actions: [GET], resources: ["/orders/**"] }`),
    });
    expect(httpVerdict(after, req('GET', '/customers/1'), '').decision.effect).toBe('deny');
  });

  it('never caches a target whose rules have time windows', () => {
    const b = bundleOf({ 't.yaml': targets, 'i.yaml': identities, 'p.yaml': OPEN });
    const inHours = req('GET', '/x', '', { target: 'timed', at: '2026-11-25T10:00:00Z' });
    const atNight = req('GET', '/x', '', { target: 'timed', at: '2026-11-25T23:00:00Z' });
    expect(httpVerdict(b, inHours, '').decision.effect).toBe('allow');
    expect(httpVerdict(b, atNight, '').decision.effect).toBe('deny');
  });

  it('agrees with the engine on every request it answers', () => {
    const b = bundleOf({ 't.yaml': targets, 'i.yaml': identities, 'p.yaml': OPEN });
    for (const [m, p, q] of [
      ['GET', '/a', ''],
      ['GET', '/a', ''],
      ['GET', '/admin/x', ''],
      ['POST', '/a', ''],
      ['GET', '/a', 'limit=1000'],
      ['GET', '/a', 'limit=10'],
    ] as const) {
      const r = req(m, p, q);
      expect(httpVerdict(b, r, q).decision).toEqual(decide(b, r));
    }
  });
});

describe('encodedHttpRequest', () => {
  it('is canonical(request)', () => {
    for (const r of [req('GET', '/customers/4711'), req('GET', '/a b/"quoted"/\u00e9', 'z=1&a=2&a=3&%5Fx=\u2028&b[]=1'), req('POST', '/', '', { subject: { identity: 'bot', groups: [] } })]) {
      expect(encodedHttpRequest(r).json).toBe(canonical(r));
    }
  });
});
