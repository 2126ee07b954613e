/**
 * Refusals as kubectl understands them: a Kubernetes `Status` object (kubectl prints its message).
 * The HTTP status is the one the problem documents use (runtime/http-transport/refusal.ts).
 */
import type { PortcullisError } from '../../errors.ts';
import { statusFor, type ErrorFormat } from '../../http-transport/refusal.ts';

const k8sReason: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  413: 'RequestEntityTooLarge',
  500: 'InternalError',
  501: 'BadRequest',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function kubernetesStatus(error: PortcullisError): Record<string, unknown> {
  const status = statusFor(error);
  const hint = typeof error.details.hint === 'string' ? ` (hint: ${error.details.hint})` : '';
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `portcullis: ${error.message}${hint}`,
    reason: k8sReason[status] ?? 'InternalError',
    code: status,
    ...(error.details.rules ? { details: { causes: (error.details.rules as string[]).map((r) => ({ reason: 'PolicyRule', message: r })) } } : {}),
  };
}

/** The listener writes a Kubernetes target's refusals as a Status, in plain JSON. */
export const kubernetesFormat: ErrorFormat = { contentType: 'application/json', document: kubernetesStatus };
