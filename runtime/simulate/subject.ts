/**
 * The subject a recorded request would have under a given bundle: the identity's groups as that
 * bundle defines them (a change of groups is a policy change too), or none if it no longer exists.
 */
import type { Bundle } from '../bundle/model.ts';
import type { Request, Subject } from '../engine/request.ts';

export function subjectUnder(bundle: Bundle, request: Request): Subject | undefined {
  const identity = bundle.identities.get(request.subject.identity);
  if (!identity) return undefined;
  return { identity: request.subject.identity, groups: identity.doc.spec.groups ?? [] };
}
