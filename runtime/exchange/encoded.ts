/**
 * A target's requests get the same few decisions over and over (same rules, masks and reason). Like
 * the PostgreSQL gateway's verdict cache, each distinct decision of a bundle is encoded once and the
 * text spliced into its records; a cached encoding is reused only for a decision equal in every field.
 */
import type { Bundle } from '../bundle/model.ts';
import type { Decision } from '../engine/decision.ts';
import { CanonicalFragment } from '../encoding/canonical.ts';

const encodedDecisions = new WeakMap<Bundle, Map<string, { decision: Decision; encoded: CanonicalFragment }>>();
const ENCODED_DECISIONS_MAX = 1024;

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameDecision(a: Decision, b: Decision): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const x = (a as unknown as Record<string, unknown>)[k];
    const y = (b as unknown as Record<string, unknown>)[k];
    if (x === y) continue;
    if (Array.isArray(x) && Array.isArray(y) && sameItems(x, y)) continue;
    return false;
  }
  return true;
}

export function encodedDecision(bundle: Bundle, decision: Decision): CanonicalFragment {
  let cache = encodedDecisions.get(bundle);
  if (!cache) encodedDecisions.set(bundle, (cache = new Map()));
  const hit = cache.get(decision.reason);
  if (hit && sameDecision(hit.decision, decision)) return hit.encoded;
  const encoded = new CanonicalFragment(decision);
  if (cache.size >= ENCODED_DECISIONS_MAX) cache.clear();
  // a snapshot, so a caller changing its decision later cannot make the cached text stale
  cache.set(decision.reason, { decision: { ...decision, rules: [...decision.rules], masks: [...decision.masks] }, encoded });
  return encoded;
}
