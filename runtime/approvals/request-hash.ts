/**
 * What a one-shot approval is bound to: a hash of the request with what varies between two asks of
 * the *same* request removed (the instant, the subject's groups). Statement text is only trimmed and
 * stripped of trailing semicolons: collapsing inner whitespace could merge two different string
 * literals, and then an approval would cover a statement nobody saw.
 */
import { canonical } from '../encoding/canonical.ts';
import { sha256Hex } from '../evidence/record.ts';
import type { Request } from '../engine/request.ts';

export function normalizedRequest(request: Request): Record<string, unknown> {
  const { at: _at, subject, ...rest } = request;
  const base: Record<string, unknown> = { ...rest, identity: subject.identity };
  if (request.protocol === 'postgres') {
    base.statement = { ...request.statement, text: normalizeSql(request.statement.text) };
  }
  return base;
}

export function requestHash(request: Request): string {
  return sha256Hex(canonical(normalizedRequest(request)));
}

function normalizeSql(text: string): string {
  return text.trim().replace(/(\s*;)+$/, '');
}

/** One line an approver reads. */
export function summarize(request: Request): string {
  switch (request.protocol) {
    case 'postgres':
      return normalizeSql(request.statement.text);
    case 'http': {
      const q = Object.entries(request.query)
        .flatMap(([k, vs]) => vs.map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
        .join('&');
      const line = `${request.method} ${request.path}${q ? `?${q}` : ''}`;
      // a reviewed request carries its body (masked) and meaning-changing headers: approvers see what they approve
      const headers = Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`);
      const body = request.body ? [`body (${request.body.bytes} bytes, sha256 ${request.body.sha256.slice(0, 12)}…): ${request.body.preview}`] : [];
      return [line, ...headers, ...body].join('\n');
    }
    case 'kubernetes': {
      const resource = `${request.apiGroup ? `${request.apiGroup}/` : ''}${request.resource}${request.subresource ? `/${request.subresource}` : ''}`;
      return `${request.verb} ${resource}${request.name ? ` ${request.name}` : ''}${request.namespace ? ` -n ${request.namespace}` : ''}`;
    }
    case 'mcp':
      return `${request.method}${request.name ? ` ${request.name}` : ''}`;
  }
}
