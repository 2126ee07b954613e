/**
 * How the gateway says no, in PostgreSQL's own words: an ErrorResponse with a SQLSTATE a client
 * library understands, a message naming the rule and the policy commit, and never a detail that
 * could carry data or internals.
 */
import type { Decision } from '../../engine/decision.ts';
import { shortRevision } from '../../bundle/revision.ts';
import { errorResponse, type ErrorFields } from './wire/serialize.ts';
import { PortcullisError, type ErrorCode } from '../../errors.ts';

/** SQLSTATE per error code: what a PostgreSQL client would see from a real server in that case. */
const sqlstate: Record<ErrorCode, string> = {
  invalid_argument: '42601', // syntax_error
  invalid_policy: '58000', // system_error
  not_found: '3D000', // invalid_catalog_name
  unauthenticated: '28P01', // invalid_password
  permission_denied: '42501', // insufficient_privilege
  review_required: '42501',
  failed_precondition: '57P03', // cannot_connect_now
  resource_exhausted: '54000', // program_limit_exceeded
  protocol_violation: '08P01', // protocol_violation
  unavailable: '08006', // connection_failure
  deadline_exceeded: '57014', // query_canceled
  tampered: '58000',
  internal: 'XX000',
};

export function errorFromPortcullis(err: PortcullisError, severity: 'ERROR' | 'FATAL' = 'ERROR'): Buffer {
  const own = err.details.postgres as ErrorFields | undefined;
  if (own) return errorResponse({ ...own, severity });
  const fields: ErrorFields = { severity, code: sqlstate[err.code], message: `portcullis: ${err.message}` };
  if (typeof err.details.hint === 'string') fields.hint = err.details.hint;
  return errorResponse(fields);
}

/**
 * A statement PostgreSQL's own parser (libpg-query, inside the gateway) rejected: the error the
 * database would have sent, its text, SQLSTATE and Position (so psql draws its caret), with the
 * gateway's part said in the HINT. Anything else the analysis refused keeps the gateway's words.
 */
export function syntaxError(err: unknown, sql: string): PortcullisError {
  const e = PortcullisError.from(err, 'invalid_argument');
  const parser = (e.cause as { sqlDetails?: { message?: string; cursorPosition?: number; fileName?: string; lineNumber?: number; functionName?: string } } | undefined)?.sqlDetails;
  if (!parser?.message) return e;
  const fields: ErrorFields = {
    severity: 'ERROR',
    code: '42601',
    message: parser.message,
    hint: "portcullis: the gateway parses every statement with PostgreSQL's parser before deciding on it; this one was not sent to the database",
  };
  if (parser.cursorPosition !== undefined) fields.position = Buffer.from(sql).subarray(0, parser.cursorPosition).toString('utf8').length + 1;
  const extra: Record<string, string> = {};
  if (parser.fileName) extra.F = parser.fileName;
  if (parser.lineNumber !== undefined) extra.L = String(parser.lineNumber);
  if (parser.functionName) extra.R = parser.functionName;
  fields.extra = extra;
  return new PortcullisError('invalid_argument', e.message, { cause: e.cause, details: { ...e.details, postgres: fields } });
}

export function fatal(code: ErrorCode, message: string, hint?: string): Buffer {
  return errorFromPortcullis(new PortcullisError(code, message, hint ? { details: { hint } } : {}), 'FATAL');
}

/** The error for a statement policy refused (deny or review). */
export function refusalFor(decision: Decision, statement: string): PortcullisError {
  const commit = shortRevision(decision.revision);
  if (decision.effect === 'review') {
    return new PortcullisError('review_required', `${decision.reason}; the statement was not run (policy ${commit})`, {
      details: { hint: 'ask an approver to review this request; approvals are not enabled on this gateway yet, so review refuses', statement },
    });
  }
  return new PortcullisError('permission_denied', `${decision.reason} (policy ${commit})`, {
    details: {
      hint: decision.rules.length > 0 ? 'this is intended by policy; propose a policy change if the agent needs it' : 'no rule covers this; propose a policy change if the agent needs it',
      statement,
    },
  });
}

/** A statement masking cannot make safe: refused, naming the column and the shape. */
export function unsafeForMasking(reason: string, decision: Decision): PortcullisError {
  return new PortcullisError('permission_denied', `refused: ${reason} (policy ${shortRevision(decision.revision)})`, {
    details: { hint: 'select classified columns directly (they arrive masked), or ask for a policy change' },
  });
}
