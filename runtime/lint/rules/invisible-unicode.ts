import type { LintRule, RawFinding } from '../types.ts';

/** Bidirectional controls, zero-width characters, soft hyphen, invisible operators, tag characters. */
const invisible = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFEFF\uFFA0\u{E0000}-\u{E007F}]/gu;

export default {
  id: 'invisible-unicode',
  severity: 'error',
  title: 'Invisible or bidirectional-control characters in a policy file',
  explanation:
    'Zero-width characters make two names that look identical different (a rule for `orders` followed by U+200B ZERO WIDTH SPACE matches no table called orders), and bidirectional overrides make a reviewer read text in a different order than the parser does ("Trojan Source"), so a diff can look harmless while changing a rule. Policy files are reviewed as text, so such characters are errors anywhere in them, comments included.',
  fix: 'Delete the character (an editor that shows invisible characters helps); write any non-ASCII text you need with visible characters only.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const f of ctx.files) {
      if (!invisible.test(f.text)) continue;
      invisible.lastIndex = 0;
      f.text.split('\n').forEach((text, i) => {
        for (const m of text.matchAll(invisible)) {
          if (i === 0 && m.index === 0 && m[0] === '\uFEFF') continue; // a byte-order mark is harmless
          const cp = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
          out.push({ message: `invisible character U+${cp} in ${JSON.stringify(text.trim().slice(0, 60))}`, at: { file: f.path, line: i + 1, column: [...text.slice(0, m.index)].length + 1 } });
        }
      });
    }
    return out;
  },
} satisfies LintRule;
