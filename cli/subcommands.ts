/**
 * Subcommands and the ids they take, with messages that say what is missing: `approvals approve`
 * without an id says it needs the approval id, a typo gets a did-you-mean, and an id may be given
 * by a unique prefix (with or without its `ap-`/`gr-` kind prefix), as git takes commits.
 */
import { PortcullisError } from '../runtime/errors.ts';
import { didYouMean } from '../runtime/bundle/diagnostics.ts';

/** subcommand -> the name of its one argument (e.g. 'approval id'), or undefined when it takes none */
export type Subcommands = Record<string, string | undefined>;

/** Check `positionals` against `subs`; returns the subcommand and its argument. */
export function subcommandOf(command: string, subs: Subcommands, positionals: readonly string[], usage: string): { sub: string; arg: string | undefined } {
  const [sub, arg, ...rest] = positionals;
  const hint = { details: { hint: `use: ${usage}` } };
  if (sub === undefined) {
    throw new PortcullisError('invalid_argument', `${command} needs a subcommand: ${Object.keys(subs).join(', ')}`, hint);
  }
  if (!Object.hasOwn(subs, sub)) {
    const guess = didYouMean(sub, Object.keys(subs)) ?? uniquePrefixOf(sub, Object.keys(subs));
    throw new PortcullisError('invalid_argument', `unknown ${command} subcommand '${sub}'${guess ? `; did you mean '${guess}'?` : ''}`, hint);
  }
  const wants = subs[sub];
  if (wants !== undefined && arg === undefined) {
    throw new PortcullisError('invalid_argument', `${command} ${sub} needs the ${wants}`, {
      details: {
        hint: `use: portcullis ${command} ${sub} ${wants.toUpperCase().replace(/ /g, '_')}${command === 'approvals' || command === 'sessions' ? ` (list them with 'portcullis ${command} list')` : ''}`,
      },
    });
  }
  const extra = wants === undefined ? [arg, ...rest].filter((x) => x !== undefined) : rest;
  if (extra.length > 0) {
    throw new PortcullisError(
      'invalid_argument',
      `${command} ${sub} takes ${wants === undefined ? 'no argument' : `only the ${wants}`}, but got '${extra.join(' ')}'${wants === undefined ? '' : ' too'}`,
      hint,
    );
  }
  return { sub, arg };
}

function uniquePrefixOf(value: string, candidates: readonly string[]): string | undefined {
  const hits = candidates.filter((c) => c.startsWith(value.toLowerCase()));
  return hits.length === 1 ? hits[0] : undefined;
}

/**
 * The one id `given` names: an exact id, or the only id starting with `given` (or `kind-` +
 * `given`). No match is not_found; several are an error listing them.
 */
export function resolveIdPrefix(what: string, given: string, ids: readonly string[], kind?: string): string {
  if (ids.includes(given)) return given;
  const prefixes = kind && !given.startsWith(`${kind}-`) ? [given, `${kind}-${given}`] : [given];
  const hits = [...new Set(ids.filter((id) => prefixes.some((p) => id.startsWith(p))))];
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new PortcullisError('not_found', `no ${what} ${given}`, { details: { hint: `list them with 'portcullis ${what === 'approval request' ? 'approvals' : 'sessions'} list'` } });
  }
  const shown = hits.slice(0, 5).join(', ') + (hits.length > 5 ? `, and ${hits.length - 5} more` : '');
  throw new PortcullisError('invalid_argument', `${given} is ambiguous: ${hits.length} ${what}s start with it (${shown})`, { details: { hint: 'give more characters of the id' } });
}
