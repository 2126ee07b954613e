import type { LintRule, RawFinding } from '../types.ts';
import { formatDuration, parseDuration } from '../../engine/duration.ts';

/** Without a repo maximum, a day is the longest grant that still deserves the name "just in time". */
const defaultMaxMs = 86_400_000;

export default {
  id: 'grant-ttl-exceeds-max',
  severity: 'error',
  title: 'A just-in-time grant lasts longer than the repo allows',
  explanation:
    "After approval, a review rule with `grant.ttl` opens a window in which the agent's matching requests are allowed without asking again. Long windows turn a one-off approval into standing access. The repo sets its ceiling in portcullis.yaml (`spec.maxGrantTtl`); a grant above it is an error. Without a ceiling, grants longer than a day are reported as warnings.",
  fix: 'Shorten review.grant.ttl to the repo maximum or less (or raise spec.maxGrantTtl in portcullis.yaml, which is itself a reviewed change).',
  check(ctx) {
    const out: RawFinding[] = [];
    const { facts, bundle } = ctx;
    if (!facts || !bundle) return out;
    const configured = bundle.repository.spec?.maxGrantTtl;
    const max = configured ? parseDuration(configured) : defaultMaxMs;
    for (const e of facts.rules) {
      const ttl = e.rule.review?.grant?.ttl;
      if (!ttl || parseDuration(ttl) <= max) continue;
      out.push({
        message: `rule '${e.rule.id}' grants ${ttl} after approval; the ${configured ? "repo's maxGrantTtl" : 'default maximum'} is ${formatDuration(max)}`,
        at: { origin: e.policy.origin, pointer: `${e.pointer}/review/grant/ttl` },
        ...(configured ? {} : { severity: 'warning' as const }),
      });
    }
    return out;
  },
} satisfies LintRule;
