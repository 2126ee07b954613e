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
import { judgeUnrecorded } from '../../exchange/index.ts';

const byBundle = new WeakMap<Bundle, Map<string, Decision>>();
/** paths are the agent's to choose: the cache is bounded, and simply starts over when full */
const VERDICTS_MAX = 4096;

/**
 * The engine's decision of `request`, from the cache when an equal request was allowed before.
 * `search` is the query string `request.query` was parsed from (the key: parsing is a function of it).
 */
export function httpVerdict(bundle: Bundle, request: HttpRequest, search: string): Decision {
  if (bundle.index.targets.get(request.target)?.timeDependent !== false) return judgeUnrecorded(bundle, request);
  let verdicts = byBundle.get(bundle);
  if (!verdicts) byBundle.set(bundle, (verdicts = new Map()));
  const key = verdictKey(request, search);
  const hit = verdicts.get(key);
  if (hit) return hit;
  const decision = judgeUnrecorded(bundle, request);
  if (decision.effect === 'allow' && !decision.approval) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear();
    // shared from now on: frozen, so the masker found by this list (proxy.ts) stays the right one
    Object.freeze(decision.masks);
    Object.freeze(decision.rules);
    verdicts.set(key, decision);
  }
  return decision;
}

/** Every part length-prefixed, so no spelling of one part can pass for another. */
function verdictKey(r: HttpRequest, search: string): string {
  let key = `${r.subject.identity.length}:${r.subject.identity}${r.subject.groups.length}`;
  for (const g of r.subject.groups) key += `:${g.length}:${g}`;
  return `${key}|${r.target.length}:${r.target}${r.method.length}:${r.method}${r.path.length}:${r.path}${search.length}:${search}`;
}
