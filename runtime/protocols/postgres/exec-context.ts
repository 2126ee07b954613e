/**
 * What the gateway remembers about one statement between forwarding it and its last response:
 * the decision (for masks and maxRows), the result plan, and the counters the recording needs.
 */
import type { Decision } from '../../engine/decision.ts';
import type { OutputMask } from '../../sql/mask-safety.ts';
import type { ColumnMasks, MaskPlan } from './mask-plan.ts';
import type { FieldDescription } from './wire/backend.ts';

/**
 * A prepared statement's result columns, learnt once from a Describe(statement) the gateway sends
 * right after the client's Parse: every Execute of it is then masked without a Describe of its own.
 */
export interface StatementShape {
  /** undefined until the Describe answered; null when the statement returns no rows */
  fields?: FieldDescription[] | null;
  /** the RowDescription as received (latin1), which keys plans shared between shapes alike */
  description?: string;
  /** plans per mask set and result formats */
  plans?: WeakMap<ColumnMasks, Map<string, MaskPlan>>;
}

export interface ExecContext {
  /** request number within the session (the decision record's seq) */
  seq: number;
  decision: Decision;
  masks: ColumnMasks;
  outputMasks?: readonly OutputMask[];
  maxRows?: number;
  /**
   * Rows already delivered from the same portal or cursor: maxRows caps what one query returns,
   * however many Executes (PortalSuspended) or FETCHes the client splits it into.
   */
  budget?: RowBudget;
  /** rows were withheld by maxRows */
  truncated?: boolean;
  startedAt: number;
  plan?: MaskPlan;
  /** extended protocol: the statement's shape and the portal's result formats make the plan */
  shape?: StatementShape;
  resultFormats?: readonly number[];
  rows: number;
  delivered: number;
  maskedValues: number;
  sample: Record<string, string | null>[];
}

export interface RowBudget {
  rows: number;
}

export function execContext(seq: number, decision: Decision, masks: ColumnMasks, outputMasks: readonly OutputMask[] | undefined, now: number): ExecContext {
  return {
    seq,
    decision,
    masks,
    outputMasks,
    maxRows: decision.maxRows,
    startedAt: now,
    rows: 0,
    delivered: 0,
    maskedValues: 0,
    sample: [],
  };
}

/** Backend responses expected, in the order the backend will send them. */
export type Slot =
  /** swallow: the gateway sent it again (a statement resent after a failed guard); the client had its answer */
  | { kind: 'parse' | 'bind' | 'close'; swallow?: boolean }
  /** a Describe the client sent: forwarded as is */
  | { kind: 'describe'; statement: boolean }
  /** a Describe(statement) the gateway injected after Parse: consumed to learn the statement's columns */
  | { kind: 'shape'; shape: StatementShape }
  | { kind: 'execute'; exec: ExecContext }
  /** swallow: a Sync the gateway added (or one whose batch it sends again), answered to nobody */
  | { kind: 'sync'; swallow?: boolean }
  /** the catalog guard sent before a statement (catalog-guard.ts): its answers are the gateway's */
  | { kind: 'guard' }
  | { kind: 'query'; statements: ExecContext[]; index: number; plan?: MaskPlan }
  /** a message the gateway sent in place of a refused one; its error is replaced by `error` */
  | { kind: 'refused'; error: Buffer; extended: boolean };
