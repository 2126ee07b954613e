/**
 * Requests from a human's shorthand (`--sql`, `--http`, `--k8s`, `--mcp`), for `portcullis decide`,
 * policy tests and the simulator. The gateways build the same Request shapes from the wire.
 */
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import { didYouMean } from '../bundle/diagnostics.ts';
import type { McpRequest, Request, Subject } from '../engine/request.ts';
import { analyzeCached } from '../sql/analyze.ts';
import { httpRequestFromLine } from './http.ts';
import { kubernetesRequestFromLine } from './kubernetes.ts';

export interface RequestSpec {
  /** identity name from the bundle */
  as: string;
  target: string;
  sql?: string;
  http?: string;
  k8s?: string;
  mcp?: string;
  /** ISO instant; defaults to now */
  at?: string;
}

/** The subject an identity of the bundle acts as. */
export function subjectOf(bundle: Bundle, identity: string): Subject {
  const found = bundle.identities.get(identity);
  if (!found) {
    const guess = didYouMean(identity, bundle.identities.keys());
    throw new PortcullisError('not_found', `no identity '${identity}' in the policy repo`, {
      details: { hint: guess ? `did you mean '${guess}'?` : `identities: ${[...bundle.identities.keys()].join(', ')}` },
    });
  }
  return { identity, groups: found.doc.spec.groups ?? [] };
}

/** A multi-statement SQL string yields one request per statement, as the gateway decides them. */
export function buildRequests(bundle: Bundle, spec: RequestSpec): Request[] {
  const subject = subjectOf(bundle, spec.as);
  if (!bundle.targets.has(spec.target)) {
    const guess = didYouMean(spec.target, bundle.targets.keys());
    throw new PortcullisError('not_found', `no target '${spec.target}' in the policy repo`, {
      details: { hint: guess ? `did you mean '${guess}'?` : `targets: ${[...bundle.targets.keys()].join(', ')}` },
    });
  }
  const at = spec.at ?? new Date().toISOString();
  const given = (['sql', 'http', 'k8s', 'mcp'] as const).filter((k) => spec[k] !== undefined);
  if (given.length !== 1) {
    throw new PortcullisError('invalid_argument', 'give exactly one of --sql, --http, --k8s or --mcp');
  }
  const base = { subject, target: spec.target, at };
  if (spec.sql !== undefined) {
    const statements = analyzeCached(spec.sql);
    if (statements.length === 0) throw new PortcullisError('invalid_argument', 'the SQL holds no statement');
    return statements.map((s) => ({ protocol: 'postgres', ...base, statement: s.statement }));
  }
  if (spec.http !== undefined) {
    // the target's path semantics, as the gateway applies them
    const t = bundle.targets.get(spec.target)!.doc.spec;
    return [httpRequestFromLine(spec.http, subject, spec.target, at, t.type === 'http' ? t.paths : undefined)];
  }
  if (spec.k8s !== undefined) return [kubernetesRequestFromLine(spec.k8s, subject, spec.target, at)];
  return [mcpRequestFromLine(spec.mcp!, subject, spec.target, at)];
}

/** `tools/call read_file {"path":"/etc/passwd"}` or `resources/read file:///x`. */
export function mcpRequestFromLine(line: string, subject: Subject, target: string, at: string): McpRequest {
  const m = /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\{.*\}))?\s*$/s.exec(line);
  if (!m) throw new PortcullisError('invalid_argument', `cannot read MCP request ${JSON.stringify(line)}`, { details: { hint: 'write it as \'tools/call NAME {"arg": 1}\'' } });
  let args: unknown;
  if (m[3]) {
    try {
      args = JSON.parse(m[3]);
    } catch {
      throw new PortcullisError('invalid_argument', `MCP arguments are not JSON: ${m[3]}`);
    }
  }
  return { protocol: 'mcp', subject, target, at, method: m[1]!, ...(m[2] ? { name: m[2] } : {}), ...(args !== undefined ? { arguments: args } : {}) };
}
