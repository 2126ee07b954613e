/**
 * The types an adapter sees of the exchange core (runtime/exchange/pipeline.ts): what it hands in
 * (the gateway parts the core needs, and one exchange: its request, session and protocol hooks) and
 * what it gets back (allowed, with masks and an evidence handle; or refused, with the error to render
 * and the decision as recorded).
 */
import type { Bundle } from '../bundle/model.ts';
import type { ApprovalService } from '../approvals/types.ts';
import type { Decision, Mask } from '../engine/decision.ts';
import type { Request } from '../engine/request.ts';
import type { CanonicalFragment } from '../encoding/canonical.ts';
import type { PortcullisError } from '../errors.ts';
import type { Recorder, StatementHint } from '../recording/recorder.ts';

/** The recorder calls the core makes; adapters keep theirs for session start/end and results. */
export type ExchangeRecorder = Pick<Recorder, 'healthy' | 'recordDecision' | 'recordDecisionStaged'>;

/** What the core needs of the gateway: a structural subset of GatewayContext / ListenerContext. */
export interface ExchangeEnv {
  recorder: ExchangeRecorder;
  /** the review flow; without it a `review` decision refuses */
  approvals?: ApprovalService;
  /** how long a review holds the request for approvers (0: refuse at once with the approval's id) */
  reviewHoldMs?: number;
  metrics?: { observeDecision(d: { effect: string; target: string; protocol: string; durationMs: number }): void };
}

/** An approval a held request waits for (told to the agent while it waits). */
export interface HeldFor {
  id: string;
  approverGroups: readonly string[];
  count: number;
}

/** The check a protocol makes of an allowed request once its review is settled. */
export type ProtocolCheck = (decision: Decision) => PortcullisError | undefined | Promise<PortcullisError | undefined>;

/** One request through the core, as the adapter hands it in. */
export interface ExchangeInput<R extends Request = Request> {
  bundle: Bundle;
  /** built by the adapter's request.ts; the engine decides it, the record holds it */
  request: R;
  /**
   * The recorded session the decision belongs to: its id, a promise of it while its start record is
   * written, or a function opening it (called only once the request is admitted).
   */
  session: string | Promise<string> | (() => string | Promise<string>);
  /** the protocol-native refusal of a `deny`, or of a `review` nobody approved (refusal.ts) */
  refusal(decision: Decision): PortcullisError;
  /**
   * A decision already made for this very request under this bundle (a verdict cache), with its
   * encoding; the core then does not decide again. Never a decision of another request.
   */
  decided?: { decision: Decision; encoded?: CanonicalFragment };
  /**
   * Only for `review`, before approvers see the request: bind what an approval must cover (HTTP
   * reads the body and the headers that change its meaning into `request`).
   */
  bindForReview?(decision: Decision): void | Promise<void>;
  /** why the agent says it needs this (runtime/gateway/stated-reason.ts) */
  reason?: string;
  /** how long this request may be held for approvers (HTTP: the agent's `Prefer: wait`); default env.reviewHoldMs */
  holdMs?: number;
  /** the request is about to be held for approvers */
  onHold?(approval: HeldFor): void;
  /**
   * The protocol's own check of a request policy allows (mask safety, SQL in tool arguments, tool
   * pins). A refusal is recorded as `deny`, reason `refused by <checkName>: <message>`.
   */
  check?: ProtocolCheck;
  /**
   * What the check is, for the record's reason `refused by <checkName>: <message>` (default
   * 'the gateway'; PostgreSQL: 'masking'). The simulator recognises the `refused by ` prefix.
   */
  checkName?: string;
  /**
   * May this allowed request go to the backend once its record is written, its answer held until
   * the record is durable? Only for requests that change nothing (a GET, a read-only statement).
   */
  staged?(decision: Decision): boolean;
  /**
   * Evidence v2: the request is a statement of the session's own subject, target and protocol
   * (template, text and `at`); a v2 store then writes only the text and references the rest. A v1
   * store ignores it, so `recorded` (or `request`) must still be the whole request.
   */
  statement?: StatementHint;
  /** the record, when it is not `request` itself (a request pre-encoded by a verdict cache) */
  recorded?: Request | CanonicalFragment;
  /** the error sent when the record cannot be written (default: failed_precondition, 503) */
  evidenceFailure?(cause: unknown): PortcullisError;
  /** performance.now() when the request reached the gateway; default: when the core got it */
  started?: number;
}

/** Where the decision record is, and when the request may go on. */
export interface Evidence {
  sessionId: string;
  target: string;
  /**
   * Resolves with the record's seq once it is written. Not staged: once it is durable. Rejects with
   * the evidence failure: nothing may then be forwarded.
   */
  written: Promise<number>;
  /** Resolves once the record is durable (for a request not staged: the same moment as `written`). */
  durable: Promise<unknown>;
  /** true: forward once `written`, hold every byte of the answer until `durable` */
  staged: boolean;
}

export interface Allowed {
  allowed: true;
  /** the decision as recorded: for a review let through, naming its approval or grant */
  decision: Decision;
  masks: readonly Mask[];
  evidence: Evidence;
}

export interface Refused {
  allowed: false;
  /** render it with the adapter's refusal.ts; it already is the evidence failure when no record was written */
  error: PortcullisError;
  /** the decision as recorded (a check's refusal reads `deny`); undefined when refused at admission */
  decision?: Decision;
  /** the record of the refusal; undefined when it could not be written (then `error` says so) */
  recorded?: { sessionId: string; seq: number; target: string };
}

export type ExchangeResult = Allowed | Refused;
