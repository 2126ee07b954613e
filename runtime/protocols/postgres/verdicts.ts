/**
 * A session's allow verdicts: the same statement under the same bundle and catalog gets the same
 * decision, already encoded, so only its record is written per statement.
 */
import type { Bundle } from '../../bundle/model.ts';
import type { Decision } from '../../engine/decision.ts';
import type { PostgresRequest } from '../../engine/request.ts';
import type { CanonicalFragment, CanonicalWithSlot } from '../../encoding/canonical.ts';
import type { AnalyzedStatement } from '../../sql/analyze.ts';
import type { OutputMask } from '../../sql/mask-safety.ts';
import type { ColumnMasks } from './mask-plan.ts';

/** An allow decision for one statement, valid while the bundle and the catalog are the same. */
export interface Verdict {
  bundle: Bundle;
  catalogVersion: number;
  resolved: AnalyzedStatement;
  decision: Decision;
  encoded: CanonicalFragment;
  /** the request's statement, encoded but for its text (one verdict serves texts of one shape) */
  statement: CanonicalWithSlot;
  masks: ColumnMasks;
  masksActive: boolean;
  /** the decision masks columns: the catalog must be current before the verdict is reused */
  catalogBound: boolean;
  /** a read: it may run once its record is written (its rows held until the record is durable) */
  early: boolean;
  /** the engine request the core is handed (its target and protocol); the record is encoded apart */
  request: PostgresRequest;
  outputMasks?: readonly OutputMask[];
}

export class VerdictCache {
  /** per analysed statement (analysis results are shared per text), its last allow verdict */
  private readonly byAnalysis = new WeakMap<AnalyzedStatement, Verdict>();

  constructor(private readonly target: string) {}

  /**
   * Verdicts are kept per analysis; a statement analysed from a template (the same statement with
   * other numbers in value-free places) shares its template's, unless a rule on the target matches
   * statement text, which differs between the two.
   */
  key(s: AnalyzedStatement, bundle: Bundle): AnalyzedStatement {
    return s.template && !bundle.index.targets.get(this.target)?.textDependent ? s.template : s;
  }

  /** A verdict for this statement still valid now: same bundle, same catalog, same resolution. */
  get(key: AnalyzedStatement, s: AnalyzedStatement, resolved: AnalyzedStatement, bundle: Bundle, catalogVersion: number): Verdict | undefined {
    const v = this.byAnalysis.get(key);
    if (!v || v.bundle !== bundle || v.resolved !== (resolved === s ? key : resolved) || v.catalogVersion !== catalogVersion) return undefined;
    return v;
  }

  set(key: AnalyzedStatement, verdict: Verdict): void {
    this.byAnalysis.set(key, verdict);
  }
}
