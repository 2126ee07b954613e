/**
 * An agent asks for the same few resources over and over. The engine's answer for an HTTP request
 * depends on the bundle, the subject (identity and groups), the target, the method, the path and the
 * query, and on the time only when a rule of the target has a time window. So, per bundle and only
 * for targets without time windows, an allowing decision is kept by exactly those inputs and reused:
 * the same Decision object each time, whose encoding the evidence store writes once and references.
 * Anything else (a review, a deny, a time-dependent target) is decided afresh every time. A reload
 * makes a new bundle, and with it an empty cache.
 */
import type { Bundle } from '../../bundle/model.ts';
import type { Decision } from '../../engine/decision.ts';
import type { HttpRequest } from '../../engine/request.ts';
import type { CanonicalFragment } from '../../encoding/canonical.ts';
import { encodedDecision } from '../../exchange/encoded.ts';
import { judgeUnrecorded } from '../../exchange/index.ts';

/** A decision, and for a cached one its encoding, written once per evidence log and referenced. */
export interface HttpVerdict {
  decision: Decision;
  encoded?: CanonicalFragment;
}

/** per bundle: by identity (with its groups), then target, then method, query and path */
const byBundle = new WeakMap<Bundle, Map<string, SubjectVerdicts[]>>();
interface SubjectVerdicts {
  groups: readonly string[];
  byTarget: Map<string, Map<string, Required<HttpVerdict>>>;
}
/** paths are the agent's to choose: each target's cache is bounded, and simply starts over when full */
const VERDICTS_MAX = 4096;

/**
 * The engine's decision of `request`, from the cache when an equal request was allowed before.
 * `search` is the query string `request.query` was parsed from (the key: parsing is a function of it).
 */
export function httpVerdict(bundle: Bundle, request: HttpRequest, search: string): HttpVerdict {
  if (bundle.index.targets.get(request.target)?.timeDependent !== false) return { decision: judgeUnrecorded(bundle, request) };
  const verdicts = verdictsOf(bundle, request);
  // a method is an HTTP token (no space); the query is length-prefixed; the path is the rest
  const key = `${request.method} ${search.length}:${search}${request.path}`;
  const hit = verdicts.get(key);
  if (hit) return hit;
  const decision = judgeUnrecorded(bundle, request);
  if (decision.effect === 'allow' && !decision.approval) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear();
    // shared from now on: frozen, so its encoding and the masker found by its mask list (proxy.ts) stay right
    Object.freeze(decision.masks);
    Object.freeze(decision.rules);
    Object.freeze(decision);
    const verdict = { decision, encoded: encodedDecision(bundle, decision) };
    verdicts.set(key, verdict);
    return verdict;
  }
  return { decision };
}

function verdictsOf(bundle: Bundle, request: HttpRequest): Map<string, Required<HttpVerdict>> {
  let byIdentity = byBundle.get(bundle);
  if (!byIdentity) byBundle.set(bundle, (byIdentity = new Map()));
  const { identity, groups } = request.subject;
  let subjects = byIdentity.get(identity);
  if (!subjects) byIdentity.set(identity, (subjects = []));
  let subject = subjects.find((s) => sameGroups(s.groups, groups));
  if (!subject) {
    if (subjects.length >= 64) subjects.length = 0;
    subject = { groups: [...groups], byTarget: new Map() };
    subjects.push(subject);
  }
  let verdicts = subject.byTarget.get(request.target);
  if (!verdicts) subject.byTarget.set(request.target, (verdicts = new Map()));
  return verdicts;
}

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
