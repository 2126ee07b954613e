/** One line per request, in the words the CLI accepts (`--sql`, `--http`, `--k8s`, `--mcp`). */
import type { Request } from '../engine/request.ts';

export function describeRequest(r: Request): string {
  switch (r.protocol) {
    case 'postgres':
      return r.statement.text;
    case 'http': {
      const q = new URLSearchParams();
      for (const [k, vs] of Object.entries(r.query)) for (const v of vs) q.append(k, v);
      const qs = q.toString();
      return `${r.method} ${r.path}${qs ? `?${qs}` : ''}`;
    }
    case 'kubernetes': {
      const res = `${r.resource}${r.apiGroup ? `.${r.apiGroup}` : ''}${r.subresource ? `/${r.subresource}` : ''}`;
      return [r.verb, res, r.name, r.namespace ? `-n ${r.namespace}` : undefined].filter(Boolean).join(' ');
    }
    case 'mcp':
      return [r.method, r.name, r.arguments !== undefined ? JSON.stringify(r.arguments) : undefined].filter(Boolean).join(' ');
  }
}
