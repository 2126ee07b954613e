/**
 * The engine request of one statement, and its canonical JSON for the record when the statement is
 * decided from a cached verdict: the session's subject and target are encoded once per session and
 * the statement once per verdict, so nothing is walked per statement.
 */
import { canonical, CanonicalFragment } from '../../encoding/canonical.ts';
import type { PostgresRequest } from '../../engine/request.ts';

/** What every request of one session shares, with its encoding. */
export interface RequestParts {
  subject: PostgresRequest['subject'];
  target: string;
  subjectJson: string;
  targetJson: string;
}

export function requestParts(subject: PostgresRequest['subject'], target: string): RequestParts {
  return { subject, target, subjectJson: canonical(subject), targetJson: JSON.stringify(target) };
}

/**
 * A request as canonical JSON written out in sorted key order (at, protocol, statement, subject,
 * target), from the statement's own encoding.
 */
export function encodedRequest(parts: RequestParts, at: string, statement: CanonicalFragment): CanonicalFragment {
  return CanonicalFragment.ofCanonical(`{"at":${JSON.stringify(at)},"protocol":"postgres","statement":${statement.json},"subject":${parts.subjectJson},"target":${parts.targetJson}}`);
}
