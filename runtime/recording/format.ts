/**
 * The one session format for every protocol (PostgreSQL, HTTP, Kubernetes, MCP). Sessions are not
 * stored separately: they are evidence records of four types, so a recording is exactly as
 * tamper-evident as the decisions it contains, and the simulator replays what the gateway decided.
 */
import type { Decision, Revision } from '../engine/decision.ts';
import type { Protocol, Request } from '../engine/request.ts';

export const SESSION_START = 'session.start';
export const DECISION = 'decision';
export const RESULT = 'result';
export const SESSION_END = 'session.end';
export const RECORDING_TYPES = [SESSION_START, DECISION, RESULT, SESSION_END] as const;

export interface ClientAddress {
  address: string;
  port?: number;
}

export interface SessionStartData {
  sessionId: string;
  /** Identity name from the bundle */
  identity: string;
  kind?: 'agent' | 'human';
  groups: string[];
  /** token subject and issuer the identity was resolved from */
  tokenSubject?: string;
  issuer?: string;
  target: string;
  protocol: Protocol;
  client: ClientAddress;
  /** bundle revision live when the session started (each decision carries its own) */
  revision: Revision;
  /** protocol details worth keeping, e.g. database, application_name, user agent */
  attributes?: Record<string, string>;
}

export interface DecisionData {
  sessionId: string;
  /** request number within the session, from 1 */
  seq: number;
  request: Request;
  decision: Decision;
}

export interface ResultError {
  code: string;
  message: string;
}

export interface ResultData {
  sessionId: string;
  seq: number;
  status: 'ok' | 'error';
  durationMs: number;
  rows?: number;
  /** how many values masking replaced */
  maskedValues?: number;
  /** at most SAMPLE_ROWS rows exactly as the agent received them, i.e. after masking */
  sample?: unknown[];
  error?: ResultError;
}

export interface SessionEndData {
  sessionId: string;
  /** e.g. client-closed, idle-timeout, max-duration, token-expired, gateway-shutdown, error */
  reason: string;
  durationMs: number;
}

/** What the simulator replays: one line per decided request. */
export interface RecordedRequest {
  sessionId: string;
  seq: number;
  request: Request;
  decision: Decision;
}

export const SAMPLE_ROWS = 5;
