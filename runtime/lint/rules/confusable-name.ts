import type { LintRule, RawFinding } from '../types.ts';
import { stringsOf } from '../context.ts';

/** Scripts whose letters pass for Latin ones, and full-width and mathematical letter forms. */
const lookalike = /[\u0370-\u03FF\u0400-\u052F\u13A0-\u13FF\uFF01-\uFF5E\u{1D400}-\u{1D7FF}\u2100-\u214F]/u;
const prose = /\/(description|reason|name)$/;

export default {
  id: 'confusable-name',
  severity: 'error',
  title: 'A name uses a character that looks like a Latin letter but is not one',
  explanation:
    "Names in policy are compared byte for byte. A table, path, namespace, label, claim or subject written with a Cyrillic 'а', a Greek 'ο' or a full-width letter looks the same to a reviewer and matches nothing the author meant - or matches an identity an attacker registered under the look-alike name. Descriptions are prose and are not checked.",
  fix: 'Retype the name in ASCII; if non-Latin text is genuinely needed, keep it to descriptions.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const doc of ctx.documents) {
      for (const s of stringsOf(doc.value)) {
        if (!s.key && prose.test(s.pointer) && !s.pointer.startsWith('/metadata/name')) continue;
        const m = lookalike.exec(s.value);
        if (!m) continue;
        const cp = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        const mixed = /[A-Za-z]/.test(s.value) ? ' mixed with Latin letters' : '';
        out.push({
          message: `${s.key ? 'key' : 'value'} ${JSON.stringify(s.value)} contains look-alike character '${m[0]}' (U+${cp})${mixed}`,
          at: { origin: doc.origin, pointer: s.pointer },
        });
      }
    }
    return out;
  },
} satisfies LintRule;
