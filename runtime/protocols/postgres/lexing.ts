/**
 * The gateway parses every query as UTF-8 with standard-conforming strings. The backend must read the
 * bytes the same way, or a string could end elsewhere for it (`'a\'` with standard_conforming_strings
 * off; a backslash or quote byte inside an SJIS character) and it would run a statement nobody
 * decided. The session is pinned to these values at startup; a backend that reports a change
 * (ParameterStatus) has had it changed by something the agent ran, and the session ends.
 */
export const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  client_encoding: 'UTF8',
  standard_conforming_strings: 'on',
};

/** UTF8, utf-8, unicode: the spellings PostgreSQL accepts for the one encoding the gateway parses. */
export function isUtf8(encoding: string): boolean {
  return /^\s*(utf-?8|unicode)\s*$/i.test(encoding);
}

/** Why a reported backend setting makes the gateway's parse unsafe, or undefined when it does not. */
export function lexingHazard(name: string, value: string): string | undefined {
  if (name === 'standard_conforming_strings' && value.toLowerCase() !== 'on') {
    return `the backend session's standard_conforming_strings changed to ${value}`;
  }
  if (name === 'client_encoding' && !isUtf8(value)) {
    return `the backend session's client_encoding changed to ${value}`;
  }
  return undefined;
}
