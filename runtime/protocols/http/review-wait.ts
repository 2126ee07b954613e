/**
 * How long an HTTP request that needs review is held. By default not at all: the agent gets its
 * answer at once (a 403 problem naming the approval, with Retry-After), since an HTTP client that
 * hangs silently for minutes looks broken. A client that would rather wait says so with RFC 7240's
 * `Prefer: wait=N`; it is then held up to N seconds, and never longer than the gateway's
 * configured review hold.
 */
import type { IncomingMessage } from 'node:http';
import { PortcullisError } from '../../errors.ts';

/** Seconds an agent is told to wait before retrying a request whose approval is pending. */
export const RETRY_AFTER_SECONDS = 10;

export function reviewWaitMs(req: IncomingMessage, maxMs: number): number {
  const raw = req.headers['prefer'];
  if (raw === undefined || maxMs <= 0) return 0;
  for (const pref of (Array.isArray(raw) ? raw.join(',') : raw).split(',')) {
    const m = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*(;.*)?$/i.exec(pref);
    if (m) return Math.min(Number(m[1]) * 1000, maxMs);
  }
  return 0;
}

/** A refusal whose approval is still pending tells the agent when to ask again. */
export function pendingAnswer(refusal: PortcullisError): PortcullisError {
  const approval = refusal.details.approval as { status?: string } | undefined;
  if (refusal.code !== 'review_required' || approval?.status !== 'pending') return refusal;
  return new PortcullisError(refusal.code, refusal.message, { cause: refusal.cause, details: { ...refusal.details, retryAfter: RETRY_AFTER_SECONDS } });
}
