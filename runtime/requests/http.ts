/**
 * HTTP request attributes as policy sees them. Paths are normalised the same way for the gateway
 * and the CLI, so `/invoices/../admin` or `/invoices/%2e%2e/admin` cannot slip past `/invoices/**`.
 */
import { PortcullisError } from '../errors.ts';
import type { HttpRequest, Subject } from '../engine/request.ts';

/** A target's declared path semantics (Target spec.paths); undefined members take the defaults. */
export interface PathSemantics {
  caseSensitive?: boolean;
  trailingSlash?: 'ignored' | 'significant';
  semicolonParameters?: 'literal' | 'stripped';
}

/**
 * Decode, resolve dot segments, collapse slashes. An encoded slash or NUL is refused outright.
 * With `semicolonParameters: stripped` each segment loses its `;params` (before decoding, as servlet
 * containers do, so `%3B` stays literal); with `trailingSlash: significant` a trailing slash stays.
 * Case is kept: a case-insensitive target's patterns match regardless of case (runtime/engine/match.ts).
 */
export function normalisePath(raw: string, semantics?: PathSemantics): string {
  let withoutQuery = raw.split('?')[0] ?? '';
  if (semantics?.semicolonParameters === 'stripped') withoutQuery = withoutQuery.replace(/;[^/]*/g, '');
  const keepSlash = semantics?.trailingSlash === 'significant' && withoutQuery.length > 1 && withoutQuery.endsWith('/');
  const path = normaliseSegments(withoutQuery);
  return keepSlash && path !== '/' ? `${path}/` : path;
}

function normaliseSegments(withoutQuery: string): string {
  if (/%2f|%5c|%00/i.test(withoutQuery)) {
    throw new PortcullisError('invalid_argument', `path ${JSON.stringify(withoutQuery)} contains an encoded slash, backslash or NUL`);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(withoutQuery);
  } catch {
    throw new PortcullisError('invalid_argument', `path ${JSON.stringify(withoutQuery)} is not valid percent-encoding`);
  }
  if (decoded.includes('\\')) throw new PortcullisError('invalid_argument', 'path contains a backslash');
  const out: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/**
 * Query parameters as policy sees them, keys canonicalised the way common frameworks read them:
 * `name[]` and `name[0]` are values of `name` (qs, PHP, Rack), repeated keys are several values
 * (every one is judged), and a nested key `name[key]` keeps its brackets (a condition on `name`
 * judges it too; runtime/engine/match.ts). Forms that frameworks read differently from one another
 * are refused: unbalanced brackets, a key that is only brackets, and `;` separators (read as `&`
 * by some servers).
 */
export function parseQuery(search: string): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  if (search.includes(';')) throw ambiguousQuery(search, "';' separates parameters for some servers and not for others");
  for (const [k, v] of new URLSearchParams(search)) (out[canonicalKey(k)] ??= []).push(v);
  return { ...out };
}

const BRACKETS = /^(?:\[[^[\]]*\])*$/;
const ARRAY_SUFFIX = /^(?:\[\d*\])+$/;

function canonicalKey(key: string): string {
  const open = key.indexOf('[');
  const close = key.indexOf(']');
  if (open < 0) {
    if (close >= 0) throw ambiguousQuery(key, 'a closing bracket without an opening one');
    return key;
  }
  const name = key.slice(0, open);
  const suffix = key.slice(open);
  if (name === '') throw ambiguousQuery(key, 'a key that is only brackets');
  if (!BRACKETS.test(suffix)) throw ambiguousQuery(key, 'unbalanced or nested brackets');
  return ARRAY_SUFFIX.test(suffix) ? name : key;
}

function ambiguousQuery(what: string, why: string): PortcullisError {
  return new PortcullisError('invalid_argument', `query ${JSON.stringify(what.slice(0, 200))} is ambiguous (${why}), so it is refused`, {
    details: { hint: 'send each parameter once per value as name=value, or name[]=value for lists' },
  });
}

/** `GET /invoices/7?expand=lines` -> an engine request. */
export function httpRequestFromLine(line: string, subject: Subject, target: string, at: string, semantics?: PathSemantics): HttpRequest {
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(line);
  if (!m) {
    throw new PortcullisError('invalid_argument', `cannot read HTTP request ${JSON.stringify(line)}`, {
      details: { hint: "write it as 'METHOD /path?query', e.g. 'GET /invoices?limit=10'" },
    });
  }
  const [, method, url] = m as unknown as [string, string, string];
  const q = url.indexOf('?');
  return {
    protocol: 'http',
    subject,
    target,
    at,
    method: method.toUpperCase(),
    path: normalisePath(url, semantics),
    query: q >= 0 ? parseQuery(url.slice(q + 1)) : {},
  };
}
