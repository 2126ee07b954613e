/**
 * HTTP request attributes as policy sees them. Paths are normalised the same way for the gateway
 * and the CLI, so `/invoices/../admin` or `/invoices/%2e%2e/admin` cannot slip past `/invoices/**`.
 */
import { PortcullisError } from '../errors.ts';
import type { HttpRequest, Subject } from '../engine/request.ts';

/** Decode, resolve dot segments, collapse slashes. An encoded slash or NUL is refused outright. */
export function normalisePath(raw: string): string {
  const withoutQuery = raw.split('?')[0] ?? '';
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

export function parseQuery(search: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) (out[k] ??= []).push(v);
  return out;
}

/** `GET /invoices/7?expand=lines` -> an engine request. */
export function httpRequestFromLine(line: string, subject: Subject, target: string, at: string): HttpRequest {
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
    path: normalisePath(url),
    query: q >= 0 ? parseQuery(url.slice(q + 1)) : {},
  };
}
