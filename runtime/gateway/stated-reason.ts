/**
 * Why an agent says it needs a request: the reason approvers read, the approval request records and
 * a review rule may require (`review.requireReason`). Only what the agent states counts; the client's
 * name (application_name, User-Agent) says which program asked, not why.
 *
 * How an agent states it, per protocol:
 * - PostgreSQL: `SET portcullis.reason = '...'` for the rest of the session (RESET clears it), or a
 *   leading comment on one statement, `/* reason: ... *\/` or `-- reason: ...`, which wins over the SET;
 * - HTTP and Kubernetes: a `Portcullis-Reason` header (`X-Portcullis-Reason` is accepted too);
 * - MCP: `params._meta["portcullis.dev/reason"]` on the call.
 */
import type { IncomingHttpHeaders } from 'node:http';

export const MAX_STATED_REASON = 500;

/** The sentence an agent reads when a rule wants a reason it did not give. */
export const HOW_TO_STATE_A_REASON: Record<'postgres' | 'http' | 'kubernetes' | 'mcp', string> = {
  postgres: "say why first: SET portcullis.reason = 'ticket 4711: refund a double charge', or start the statement with /* reason: ... */",
  http: 'say why in a Portcullis-Reason header, e.g. Portcullis-Reason: ticket 4711',
  kubernetes: 'say why in a Portcullis-Reason header, e.g. Portcullis-Reason: ticket 4711',
  mcp: 'say why in the call\'s _meta, e.g. "_meta": {"portcullis.dev/reason": "ticket 4711"}',
};

function clean(text: string | undefined): string | undefined {
  // Control characters would forge lines in a terminal or a chat message; collapse them.
  const t = text
    ?.replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, MAX_STATED_REASON);
  return t ? t : undefined;
}

const LEADING_BLOCK = /^[\s;]*\/\*\s*reason\s*:\s*([\s\S]*?)\s*\*\//i;
const LEADING_LINE = /^[\s;]*--\s*reason\s*:\s*(.*)/i;

/** The reason a leading comment states (the text before a statement, up to the previous `;`), if any. */
export function reasonFromSql(text: string): string | undefined {
  const m = LEADING_BLOCK.exec(text) ?? LEADING_LINE.exec(text);
  return clean(m?.[1]);
}

/** The setting name agents SET; the gateway reads it as it passes. */
export const REASON_SETTING = 'portcullis.reason';

export function reasonFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const v = headers['portcullis-reason'] ?? headers['x-portcullis-reason'];
  return clean(Array.isArray(v) ? v.join(', ') : v);
}

export function reasonFromMeta(params: unknown): string | undefined {
  if (!params || typeof params !== 'object') return undefined;
  const meta = (params as { _meta?: unknown })._meta;
  if (!meta || typeof meta !== 'object') return undefined;
  const v = (meta as Record<string, unknown>)['portcullis.dev/reason'];
  return typeof v === 'string' ? clean(v) : undefined;
}

/**
 * `SET portcullis.reason = '...'` sets the session's reason, `RESET portcullis.reason` (or RESET ALL)
 * clears it; undefined for any other statement. (The backend keeps the setting too, so SHOW works.)
 */
export function reasonSetting(ast: unknown): { reason: string | undefined } | undefined {
  const set = (ast as { VariableSetStmt?: { kind?: string; name?: string; args?: unknown[] } } | undefined)?.VariableSetStmt;
  if (!set) return undefined;
  if (set.kind === 'VAR_RESET_ALL') return { reason: undefined };
  if (set.name?.toLowerCase() !== REASON_SETTING) return undefined;
  if (set.kind !== 'VAR_SET_VALUE') return { reason: undefined };
  const values = (set.args ?? []).map((a) => {
    const c = (a as { A_Const?: { sval?: { sval?: string }; ival?: { ival?: number } } }).A_Const;
    return c?.sval?.sval ?? (c?.ival?.ival !== undefined ? String(c.ival.ival) : '');
  });
  return { reason: clean(values.join(', ')) };
}
