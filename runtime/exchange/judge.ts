/**
 * Decisions that are not exchanges: nothing is forwarded on them, so nothing is recorded. A listing
 * filter asks whether the agent may call what it lists; an embedded resource in a result is judged as
 * the read it stands for; a session's limits come from the policies that match it. Protocol folders
 * ask here instead of calling the engine, so the exchange core stays the one way to the engine for
 * anything that reaches a backend.
 */
import { decide, sessionLimits } from '../engine/decide.ts';
import type { Bundle } from '../bundle/model.ts';
import type { Decision, SessionLimits } from '../engine/decision.ts';
import type { Request, Subject } from '../engine/request.ts';

/** The engine's decision of a request that will not be forwarded on it (and so is not recorded). */
export function judgeUnrecorded(bundle: Bundle, request: Request): Decision {
  return decide(bundle, request);
}

export function limitsOf(bundle: Bundle, subject: Subject, target: string): SessionLimits {
  return sessionLimits(bundle, subject, target);
}
