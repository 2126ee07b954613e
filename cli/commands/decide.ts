/**
 * `portcullis decide`: the playground. Ask the engine what it would decide for one request and see
 * the rules, masks and revision behind the answer, without a gateway or a database.
 */
import { defineCommand, requireString } from '../command.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { decide } from '../../runtime/engine/decide.ts';
import { shortRevision } from '../../runtime/bundle/revision.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import type { Request } from '../../runtime/engine/request.ts';

export default defineCommand(
  {
    name: 'decide',
    summary: 'Ask the decision engine what it would decide for one request.',
    usage: 'portcullis decide --policies DIR --as IDENTITY --target NAME (--sql "..." | --http "GET /path" | --k8s "delete pods -n prod" | --mcp "tools/call NAME {...}")',
    options: {
      policies: { type: 'string', short: 'p', default: 'policies' },
      as: { type: 'string' },
      target: { type: 'string', short: 't' },
      sql: { type: 'string' },
      http: { type: 'string' },
      k8s: { type: 'string' },
      mcp: { type: 'string' },
      at: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
    help: {
      policies: 'policy repo folder (default: policies)',
      as: 'identity name the request is made as',
      target: 'target name',
      sql: 'SQL text; several statements are decided one by one',
      http: "an HTTP request line: 'GET /invoices?limit=10'",
      k8s: "a kubectl-like line: 'get secrets db -n shop'",
      mcp: 'an MCP call: \'tools/call read_file {"path":"/etc/hosts"}\'',
      at: 'ISO time of the request (for time-window conditions; default now)',
      format: 'text or json',
    },
  },
  async ({ values }) => {
    const bundle = await loadBundle(values.policies!);
    const requests = buildRequests(bundle, {
      as: requireString(values.as, 'as', 'decide'),
      target: requireString(values.target, 'target', 'decide'),
      ...(values.sql !== undefined ? { sql: values.sql } : {}),
      ...(values.http !== undefined ? { http: values.http } : {}),
      ...(values.k8s !== undefined ? { k8s: values.k8s } : {}),
      ...(values.mcp !== undefined ? { mcp: values.mcp } : {}),
      ...(values.at !== undefined ? { at: new Date(values.at).toISOString() } : {}),
    });
    const decisions = requests.map((request) => ({ request, decision: decide(bundle, request) }));
    if (values.format === 'json') {
      process.stdout.write(JSON.stringify(decisions.length === 1 ? decisions[0] : decisions, null, 2) + '\n');
    } else {
      process.stdout.write(decisions.map(({ request, decision }) => render(request, decision)).join('\n') + '\n');
    }
    // Exit status tells scripts the outcome: 0 allow, 3 review, 4 deny (the strictest of all statements).
    const effects = decisions.map((d) => d.decision.effect);
    return effects.includes('deny') ? 4 : effects.includes('review') ? 3 : 0;
  },
);

function render(request: Request, d: Decision): string {
  const what =
    request.protocol === 'postgres'
      ? request.statement.text
      : request.protocol === 'http'
        ? `${request.method} ${request.path}`
        : request.protocol === 'kubernetes'
          ? `${request.verb} ${request.resource}${request.subresource ? '/' + request.subresource : ''}${request.name ? ' ' + request.name : ''}${request.namespace ? ' -n ' + request.namespace : ''}`
          : `${request.method} ${request.name ?? ''}`;
  const lines = [`${d.effect.toUpperCase()}  ${what}`, `  reason:   ${d.reason}`];
  for (const r of d.rules) lines.push(`  rule:     ${r.policy}/${r.rule}  (${r.file}:${r.line})`);
  if (d.maxRows !== undefined) lines.push(`  maxRows:  ${d.maxRows}`);
  if (d.review) {
    lines.push(`  approvers: ${d.review.count} of ${d.review.approverGroups.join(', ')}${d.review.grantTtlMs ? `, then a grant for ${d.review.grantTtlMs / 60000}m` : ''}`);
  }
  if (d.effect !== 'deny') for (const m of d.masks) lines.push(`  mask:     ${m.kind} ${m.pattern} -> ${m.strategy}  (${m.source})`);
  lines.push(`  revision: ${shortRevision(d.revision)}`);
  return lines.join('\n');
}
