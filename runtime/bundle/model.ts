/**
 * The merged, immutable view of a policy repo. Document types come from `schema/types.ts`, which
 * is generated from the JSON Schemas: nothing here restates the file format.
 */
import type { Identity, Invariant, Policy, PolicyTest, Repository, Target } from '../../schema/types.ts';
import type { Revision } from '../engine/decision.ts';
import type { CompiledIndex } from '../engine/compile.ts';

export type { Identity, Invariant, Policy, PolicyTest, Repository, Target };

/** Where a document (or a value inside it) was written. */
export interface Origin {
  file: string;
  line: number;
  column: number;
  /** line/column of a value inside the document, by JSON pointer (`/spec/rules/0`) */
  locate(pointer: string): { line: number; column: number };
}

export interface Located<T> {
  doc: T;
  origin: Origin;
}

export interface Bundle {
  /** absolute path of the repo root */
  readonly root: string;
  readonly revision: Revision;
  readonly repository: Repository;
  readonly targets: ReadonlyMap<string, Located<Target>>;
  readonly identities: ReadonlyMap<string, Located<Identity>>;
  readonly policies: readonly Located<Policy>[];
  readonly invariants: readonly Located<Invariant>[];
  readonly tests: readonly Located<PolicyTest>[];
  /** every group named by an identity */
  readonly groups: ReadonlySet<string>;
  /** the indexes `decide` uses; built once per bundle */
  readonly index: CompiledIndex;
  /** repo-relative paths of every file loaded, for lint and evidence */
  readonly files: readonly string[];
}

export type TargetType = Target['spec']['type'];
