import type { LintRule, RawFinding } from '../types.ts';

const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)$/i;

export default {
  id: 'insecure-transport',
  severity: 'warning',
  title: 'The gateway talks to a remote target without verified TLS',
  explanation:
    'The gateway holds the backend credential and carries production data. Over plain HTTP, or PostgreSQL with tls.mode disable or prefer (which silently falls back to plain text), anyone on the network path can read the data and the credential, or impersonate the backend. Loopback addresses are exempt; everything else should use https:// and, for PostgreSQL, tls.mode require or verify-full.',
  fix: 'Use an https:// URL, and tls: {mode: verify-full} (or require) for PostgreSQL.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const [name, t] of ctx.bundle?.targets ?? []) {
      const spec = t.doc.spec;
      if (spec.type === 'postgres') {
        if (loopback.test(spec.host) || spec.host.startsWith('/')) continue;
        const mode = spec.tls?.mode ?? 'prefer';
        if (mode === 'disable' || mode === 'prefer') {
          out.push({
            message: `target '${name}' connects to ${spec.host} with tls.mode ${mode}${spec.tls?.mode ? '' : ' (the default)'}`,
            at: { origin: t.origin, pointer: spec.tls ? '/spec/tls/mode' : '/spec/host' },
          });
        }
      } else {
        let url: URL;
        try {
          url = new URL(spec.url);
        } catch {
          continue;
        }
        if (url.protocol === 'http:' && !loopback.test(url.hostname)) {
          out.push({ message: `target '${name}' uses plain HTTP to ${url.host}`, at: { origin: t.origin, pointer: '/spec/url' } });
        }
      }
    }
    return out;
  },
} satisfies LintRule;
