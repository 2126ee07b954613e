/**
 * JSON numbers survive masking exactly as the upstream wrote them. JSON.parse turns
 * 12345678901234567890 into 12345678901234567000, 1.10 into 1.1 and 1e400 into Infinity (which
 * JSON.stringify writes as null): a gateway that re-serialises a masked document must not change the
 * values it does not mask. Numbers whose text would not survive are carried through the parsed tree
 * as marked strings (U+0000, a random per-process tag, the number's text) and written back as that
 * text.
 *
 * The marker cannot be forged: the tag is a secret of this process, and the protection is used only
 * for a document holding no `\u0000` escape at all. Code that treats marked strings specially (the
 * maskers skip them when scrubbing strings) must ask `markedNumber`, which knows the tag.
 */
import { randomBytes } from 'node:crypto';

const TAG = randomBytes(12).toString('hex');
/** the marked string's JSON text starts with this: `"\u0000<tag>:` */
const MARK = `\u0000${TAG}:`;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const MARKED = new RegExp(`"\\\\u0000${TAG}:(-?[0-9][0-9.eE+-]*)"`, 'g');

export interface ExactJson {
  /** the parsed document; throws like JSON.parse on invalid JSON */
  value: unknown;
  /** JSON.stringify's output for (a masked copy of) that document, with the numbers written back */
  write(json: string): string;
}

/** JSON.parse that keeps every number's text; `write` turns serialised output back into exact JSON. */
export function parseExact(source: string): ExactJson {
  const text = protectNumbers(source);
  const value: unknown = JSON.parse(text);
  return { value, write: text === source ? (json) => json : restoreNumbers };
}

/** The text with every number that JSON.parse would not keep exactly turned into a marked string. */
function protectNumbers(source: string): string {
  if (/\\u0000/i.test(source)) return source;
  let out = '';
  let copied = 0;
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = source.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(source);
      if (!m || m[0].length === 0) return source; // not JSON: JSON.parse will say so
      const text = m[0];
      if (String(Number(text)) !== text) {
        out += `${source.slice(copied, i)}"\\u0000${TAG}:${text}"`;
        copied = i + text.length;
      }
      i += text.length;
      continue;
    }
    i++;
  }
  return copied === 0 ? source : out + source.slice(copied);
}

/** Serialised JSON with the marked strings written back as the numbers they hold. */
export function restoreNumbers(json: string): string {
  return json.includes('\\u0000') ? json.replace(MARKED, '$1') : json;
}

/** The number text a marked string holds, or undefined for any other value. */
export function markedNumber(value: unknown): string | undefined {
  return typeof value === 'string' && value.startsWith(MARK) ? value.slice(MARK.length) : undefined;
}
