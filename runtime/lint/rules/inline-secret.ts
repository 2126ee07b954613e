import type { LintRule, RawFinding } from '../types.ts';
import { loaderFindings } from '../loader-findings.ts';
import { stringsOf } from '../context.ts';

/** Shapes of credentials that are unmistakable wherever they appear. */
const shapes: [string, RegExp][] = [
  ['a URL with a password in it', /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i],
  ['an AWS access key', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a GitHub token', /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b/],
  ['a Slack token', /\bxox[abprs]-[A-Za-z0-9-]{10,}/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a JSON Web Token', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
];
/** A string value under a key that names a credential. */
const secretKey = /(?:^|[_-])(?:pass(?:word|wd)?|secret|api[_-]?key|access[_-]?key|private[_-]?key|token)$/i;

export default {
  id: 'inline-secret',
  severity: 'error',
  title: 'A secret is written into the policy repo',
  explanation:
    'Credentials live outside the repo: targets reference them as {env: NAME} or {file: PATH} and the gateway resolves them at connect time, so agents and everyone with read access to the repo never hold them. A password, token or private key written inline is in Git history forever, even after it is removed. This rule catches inline values in credential fields (from the schema) and credential-shaped strings anywhere else: URLs with a password, cloud and GitHub tokens, JWTs, PEM private keys, and string values under keys named like a password or token.',
  fix: 'Replace the value with {env: NAME} or {file: PATH}, then rotate the secret: it is already in the history.',
  check(ctx) {
    const out: RawFinding[] = loaderFindings(ctx, ['inline-secret']);
    const already = new Set(out.map((f) => ('file' in f.at ? `${f.at.file}:${f.at.line}` : '')));
    for (const doc of ctx.documents) {
      for (const s of stringsOf(doc.value)) {
        if (s.key) continue;
        const key = s.pointer.slice(s.pointer.lastIndexOf('/') + 1);
        let what = shapes.find(([, re]) => re.test(s.value))?.[0];
        if (!what && secretKey.test(key) && s.value.length > 0) what = `a value for '${key}'`;
        if (!what) continue;
        const pos = doc.origin.locate(s.pointer);
        if (already.has(`${doc.file}:${pos.line}`)) continue;
        out.push({ message: `${what} is written inline at ${s.pointer}`, at: { origin: doc.origin, pointer: s.pointer } });
      }
    }
    return out;
  },
} satisfies LintRule;
