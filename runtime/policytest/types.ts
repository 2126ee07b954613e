/** What `portcullis test` reports: one result per case, and which rules no case exercised. */
import type { Effect } from '../engine/decision.ts';

export interface CaseResult {
  test: string;
  name: string;
  file: string;
  line: number;
  passed: boolean;
  expected: { effect: Effect; rules?: string[]; masks?: string[] };
  actual?: { effect: Effect; rules: string[]; masks: string[]; reason: string };
  /** why the case failed, one sentence each */
  problems: string[];
}

export interface UncoveredRule {
  rule: string;
  file: string;
  line: number;
}

export interface Coverage {
  total: number;
  exercised: number;
  /** 0..100, one decimal */
  percent: number;
  uncovered: UncoveredRule[];
}

export interface TestReport {
  root: string;
  cases: CaseResult[];
  passed: number;
  failed: number;
  coverage: Coverage;
  /** the threshold applied (flag, else the repo's coverageThreshold) */
  threshold?: number;
  belowThreshold: boolean;
  durationMs: number;
}
