/**
 * The whole policy check of a pull request, as data: lint, policy tests, replay and invariants,
 * the permission diff and the safety configuration, all judged by the base revision's settings,
 * with the designated owners' approval (when a caller can ask GitHub) for what weakens the judge.
 */
import { resolve as resolvePath } from 'node:path';
import { compileBundle, readPolicyFiles, type SourceFile } from '../bundle/load.ts';
import type { Bundle } from '../bundle/model.ts';
import { canonicalJson } from '../bundle/revision.ts';
import { PortcullisError } from '../errors.ts';
import { permissionDiff, type PermissionDiff } from '../diff/permissions.ts';
import { lintFiles } from '../lint/run.ts';
import type { LintReport } from '../lint/types.ts';
import { runPolicyTests } from '../policytest/run.ts';
import type { TestReport } from '../policytest/types.ts';
import { checkCodeowners, CODEOWNERS_PATHS, ownersOf, parseCodeowners, safetyPaths } from '../safety/codeowners.ts';
import { governedFiles, governedRepository } from '../safety/governed.ts';
import type { OwnerApproval, SafetyReport } from '../safety/types.ts';
import { bundleAtRef, fileAtRef, filesAtRef, repoLayout } from '../simulate/git.ts';
import { simulate } from '../simulate/run.ts';
import type { SimulateReport } from '../simulate/types.ts';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PolicyCheckInput {
  dir: string;
  base?: string;
  /** reports of earlier steps; whatever is missing is computed */
  lint?: LintReport;
  test?: TestReport;
  simulate?: SimulateReport;
  recordings?: string;
  seed?: number;
  runs?: number;
  /** asks GitHub whether the designated owners approved; absent: nobody approved */
  approval?: (owners: string[]) => Promise<OwnerApproval>;
}

export interface PolicyCheck {
  lint: LintReport;
  test?: TestReport;
  simulate?: SimulateReport;
  simulationError?: string;
  diff?: PermissionDiff;
  safety?: SafetyReport;
  approval?: OwnerApproval;
  /** the base's designated owners approved what needs approval */
  approved: boolean;
  /** CODEOWNERS does not give every safety file to the designated owners */
  codeowners: string[];
  failed: boolean;
}

export async function policyCheck(input: PolicyCheckInput): Promise<PolicyCheck> {
  const dir = resolvePath(input.dir);
  const files = await readPolicyFiles(dir);
  const headResult = compileBundle(dir, files, {});
  const head = headResult.bundle;
  const base = input.base ? baseBundle(dir, input.base) : undefined;

  // Lint and tests run under the settings that judge the change, not the ones it proposes.
  const repository = base && head ? governedRepository(base.repository, head.repository) : undefined;
  const settingsChanged = repository !== undefined && head !== undefined && canonicalJson(repository) !== canonicalJson(head.repository);
  const judged: readonly SourceFile[] = repository && settingsChanged ? governedFiles(files, repository) : files;
  const lint = input.lint && !settingsChanged ? input.lint : lintFiles(dir, judged);
  let test = input.test && !settingsChanged ? input.test : undefined;
  if (!test && head) test = runPolicyTests(head, repository?.spec?.coverageThreshold !== undefined ? { threshold: repository.spec.coverageThreshold } : {});

  let simulation = input.simulate;
  let simulationError: string | undefined;
  if (!simulation && head) {
    try {
      simulation = await simulate({
        dir,
        ...(input.base ? { base: input.base } : {}),
        ...(input.recordings ? { recordings: input.recordings } : {}),
        ...(input.seed !== undefined ? { seed: input.seed } : {}),
        ...(input.runs !== undefined ? { runs: input.runs } : {}),
      });
    } catch (err) {
      // The report still goes out: a PR whose base cannot be read must say so, not stay silent.
      simulationError = PortcullisError.from(err).describe();
    }
  }
  const diff = base && head ? permissionDiff(base, head) : undefined;
  const safety = simulation?.safety ? { ...simulation.safety, changes: [...simulation.safety.changes] } : undefined;

  const needsApproval = (safety?.changes.some((c) => c.weakens) ?? false) || (diff?.widened ?? 0) > 0;
  let approval: OwnerApproval | undefined;
  if (needsApproval && input.base) {
    const owners = designatedOwners(dir, input.base);
    approval = input.approval ? await input.approval(owners) : { owners, approvedBy: [], problem: 'approval not checked (run portcullis ci github in the pull request)' };
  }
  const approved = (approval?.approvedBy.length ?? 0) > 0;
  if (safety) {
    if (approval) safety.approval = approval;
    safety.failed = safety.changes.some((c) => c.weakens) && !approved;
  }
  const codeowners = head ? codeownersProblems(dir, head) : [];

  const failed =
    lint.counts.error > 0 ||
    (test ? test.failed > 0 || test.belowThreshold : false) ||
    simulationError !== undefined ||
    (simulation ? (simulation.replay?.failed.length ?? 0) > 0 || simulation.invariants.some((i) => !i.holds) : false) ||
    (safety?.failed ?? false) ||
    ((diff?.widened ?? 0) > 0 && !approved);
  return {
    lint,
    ...(test ? { test } : {}),
    ...(simulation ? { simulate: { ...simulation, ...(safety ? { safety } : {}) } } : {}),
    ...(simulationError ? { simulationError } : {}),
    ...(diff ? { diff } : {}),
    ...(safety ? { safety } : {}),
    ...(approval ? { approval } : {}),
    approved,
    codeowners,
    failed,
  };
}

function baseBundle(dir: string, ref: string): Bundle | undefined {
  try {
    if (filesAtRef(dir, ref).length === 0) return undefined;
    return bundleAtRef(dir, ref).bundle;
  } catch {
    // simulate reports why the base cannot be read
    return undefined;
  }
}

/** The owners the base revision's CODEOWNERS gives the repo config: the pull request cannot name its own. */
export function designatedOwners(dir: string, ref: string): string[] {
  const layout = repoLayout(dir);
  if (!layout) return [];
  for (const p of CODEOWNERS_PATHS) {
    const text = fileAtRef(dir, ref, p);
    if (text === undefined) continue;
    const lines = parseCodeowners(text);
    const yaml = ownersOf(lines, `${layout.prefix}portcullis.yaml`);
    return yaml.length ? yaml : ownersOf(lines, `${layout.prefix}portcullis.yml`);
  }
  return [];
}

function codeownersProblems(dir: string, head: Bundle): string[] {
  const layout = repoLayout(dir);
  if (!layout) return [];
  const found = CODEOWNERS_PATHS.find((p) => existsSync(join(layout.top, p)));
  const paths = safetyPaths(head, layout.prefix, found ?? CODEOWNERS_PATHS[0]);
  return checkCodeowners(found ? readFileSync(join(layout.top, found), 'utf8') : undefined, paths).problems.map((p) => p.message);
}
