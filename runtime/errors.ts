/**
 * The one error class of Portcullis. Every failure a user can see carries a stable `code` from a
 * closed set, and a message that says what to do. `cause` is kept for logs and is never sent to an
 * agent over the wire (a backend error may mention data or internals the agent must not see).
 */
export const ErrorCodes = [
  'invalid_argument', // a CLI flag or API parameter is wrong
  'invalid_policy', // a policy repo file failed schema or reference validation
  'not_found', // a named thing (target, identity, session, approval) does not exist
  'unauthenticated', // no token, or the token failed verification
  'permission_denied', // policy denied the request
  'review_required', // policy requires a human approval first
  'failed_precondition', // the system is not in a state to do this (no bundle, store not writable)
  'resource_exhausted', // a limit (rows, body size, session duration) was reached
  'protocol_violation', // a client or upstream spoke the wire protocol wrongly
  'unavailable', // a backend or upstream could not be reached
  'deadline_exceeded', // a timeout expired
  'tampered', // evidence failed verification
  'internal', // a bug: fail closed and say so
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export interface ErrorDetails {
  /** file:line:col location for policy errors */
  file?: string;
  line?: number;
  column?: number;
  /** a suggestion the user can act on */
  hint?: string;
  [key: string]: unknown;
}

export class PortcullisError extends Error {
  override readonly name = 'PortcullisError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The text a user sees: location first when there is one, then the message and the hint. */
  describe(): string {
    const { file, line, column, hint } = this.details;
    const where = file ? `${file}${line ? `:${line}${column ? `:${column}` : ''}` : ''}: ` : '';
    return `${where}${this.message}${hint ? `\n  hint: ${hint}` : ''}`;
  }

  static is(value: unknown, code?: ErrorCode): value is PortcullisError {
    return value instanceof PortcullisError && (code === undefined || value.code === code);
  }

  /** Wrap anything thrown into a PortcullisError, keeping the original as the cause. */
  static from(value: unknown, code: ErrorCode = 'internal', message?: string): PortcullisError {
    if (value instanceof PortcullisError) return value;
    const text = message ?? (value instanceof Error ? value.message : String(value));
    return new PortcullisError(code, text, { cause: value });
  }
}
