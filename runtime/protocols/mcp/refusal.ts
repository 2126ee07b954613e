/**
 * Refusals as an MCP client understands them: a JSON-RPC error for the request's id. What a refusal
 * says (rules, policy commit) comes from the exchange core (runtime/exchange/refusal.ts); only the
 * error's own message and its public details go over the wire, its cause stays in the logs.
 */
import { ErrorCode, type JSONRPCErrorResponse, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { PortcullisError, type ErrorCode as PortcullisCode } from '../../errors.ts';

/**
 * JSON-RPC codes for the gateway's refusals, in the implementation-defined server range. A client
 * that only shows `message` still tells the user which rule and commit refused it.
 */
const rpcCodes: Partial<Record<PortcullisCode, number>> = {
  invalid_argument: ErrorCode.InvalidParams,
  permission_denied: -32010,
  review_required: -32011,
  failed_precondition: -32012,
  protocol_violation: -32013,
  resource_exhausted: -32014,
  unavailable: -32015,
  deadline_exceeded: ErrorCode.RequestTimeout,
  not_found: -32016,
};

/** Details that may cross the wire; the cause and anything else stay in the gateway's logs. */
const PUBLIC_DETAILS = ['rules', 'revision', 'approval', 'hint', 'limit', 'tool'] as const;

export function errorResponse(id: RequestId | null, err: unknown): JSONRPCErrorResponse {
  const error = PortcullisError.from(err);
  const explicit = error.details.rpcCode;
  const code = typeof explicit === 'number' ? explicit : (rpcCodes[error.code] ?? ErrorCode.InternalError);
  const data: Record<string, unknown> = { code: error.code };
  for (const key of PUBLIC_DETAILS) if (error.details[key] !== undefined) data[key] = error.details[key];
  // the SDK's response schema wants an id; null answers a request whose id could not be read
  return { jsonrpc: '2.0', id: id as RequestId, error: { code, message: `portcullis: ${error.message}`, data } };
}
