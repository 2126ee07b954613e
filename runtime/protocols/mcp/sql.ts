/**
 * A tool argument that is SQL (`run_sql {"sql": "..."}`) is decided as the PostgreSQL gateway would
 * decide it: the text goes through the same analysis (libpg-query) and each statement becomes a
 * PostgresRequest on the PostgreSQL target the tool reaches, decided by the same engine. The MCP
 * call goes ahead only if the tool call *and* every statement are allowed; each statement's
 * decision is recorded in the MCP session as a postgres request, so the simulator replays it
 * against the database's rules like any statement that came through the PostgreSQL gateway.
 *
 * The tool's result is free text the gateway cannot trace back to columns, so a statement reading
 * a relation with a column mask is refused rather than answered unmasked.
 *
 * Which tools take SQL comes from the target's `sql` list ({tool, argument, target}), a proposed
 * schema field; until the schema has it no target declares any, and nothing here runs.
 */
import type { Bundle } from '../../bundle/model.ts';
import type { Decision } from '../../engine/decision.ts';
import { compileMatcher, jsonPathValue, relationName } from '../../engine/match.ts';
import type { McpRequest, PostgresRequest } from '../../engine/request.ts';
import { PortcullisError } from '../../errors.ts';
import { analyzeCached } from '../../sql/analyze.ts';

export interface SqlArgument {
  /** tool name */
  tool: string;
  /** JSON path of the argument holding the SQL text, e.g. `$.sql` */
  argument: string;
  /** the postgres target the tool's server runs it on */
  target: string;
}

export function sqlArgumentsOf(bundle: Bundle, target: string): SqlArgument[] {
  const spec = bundle.targets.get(target)?.doc.spec as { sql?: unknown } | undefined;
  if (!Array.isArray(spec?.sql)) return [];
  return spec.sql.filter((s): s is SqlArgument => typeof s?.tool === 'string' && typeof s?.argument === 'string' && typeof s?.target === 'string');
}

/**
 * The statements a call carries, as the requests the exchange core decides and records; throws
 * invalid_argument for SQL that cannot be analysed, before anything is recorded.
 */
export function sqlRequestsOf(call: McpRequest, configs: readonly SqlArgument[]): PostgresRequest[] {
  const out: PostgresRequest[] = [];
  for (const c of configs) {
    if (c.tool !== call.name) continue;
    const text = jsonPathValue(call.arguments, c.argument);
    if (typeof text !== 'string') {
      throw new PortcullisError('invalid_argument', `tool ${JSON.stringify(c.tool)} takes SQL in ${c.argument}, which is not a string`);
    }
    for (const s of analyzeCached(text)) {
      if (s.refersTo) {
        throw new PortcullisError('invalid_argument', `tool ${JSON.stringify(c.tool)}: ${s.statement.class} of a prepared statement or cursor cannot be checked outside a database session`);
      }
      const request: PostgresRequest = { protocol: 'postgres', subject: call.subject, target: c.target, at: call.at, statement: s.statement };
      out.push(request);
    }
  }
  return out;
}

/** The protocol check of an allowed statement: undefined when it may run through the tool; else why not. */
export function sqlRefusal(request: PostgresRequest, decision: Decision): PortcullisError | undefined {
  const read = request.statement.relations.map((r) => relationName(r.schema, r.name));
  for (const m of decision.masks) {
    if (m.kind !== 'column') continue;
    const relation = m.pattern.split('.').slice(0, -1).join('.');
    const matcher = compileMatcher([relation], 'postgres');
    const hit = read.find((r) => matcher.test(r));
    if (hit) {
      return new PortcullisError(
        'permission_denied',
        `the SQL reads ${hit}, whose column ${m.pattern} must be masked (${m.source}), and a tool's result cannot be masked by column; query it through the PostgreSQL gateway instead`,
        {
          details: { rules: [m.source] },
        },
      );
    }
  }
  return undefined;
}
