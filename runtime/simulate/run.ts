/**
 * `portcullis simulate`: load the base revision from git history and the head (a revision or the
 * work tree), replay the recordings against both, then search every invariant of the head.
 * Progress goes to a callback; the caller decides whether anyone is watching.
 */
import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { tryLoadBundle } from '../bundle/load.ts';
import { invalidPolicy } from '../bundle/diagnostics.ts';
import type { Bundle } from '../bundle/model.ts';
import { PortcullisError } from '../errors.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { bundleAtRef, filesAtRef } from './git.ts';
import { checkInvariants } from './invariants.ts';
import { loadRecordings } from './recordings.ts';
import { replay } from './replay.ts';
import type { SimulateReport } from './types.ts';

export interface SimulateOptions {
  dir: string;
  /** git ref of the base revision; omitted: invariants only */
  base?: string;
  /** git ref, or 'worktree' (default) */
  head?: string;
  /** file or folder of recordings; default: the repo's spec.recordings */
  recordings?: string;
  seed?: number;
  runs?: number;
  onProgress?: (message: string) => void;
}

export async function simulate(options: SimulateOptions): Promise<SimulateReport> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => {});
  const dir = resolvePath(options.dir);
  const seed = options.seed ?? (Math.random() * 2 ** 31) | 0;

  progress(`loading head (${options.head ?? 'worktree'})`);
  const head = await loadHead(dir, options.head);
  let base: Bundle | undefined;
  if (options.base) {
    progress(`loading base ${options.base} from git history`);
    if (filesAtRef(dir, options.base).length > 0) {
      const result = bundleAtRef(dir, options.base);
      if (!result.bundle) {
        throw new PortcullisError('invalid_policy', `the base revision ${options.base} does not load (${result.diagnostics.filter((d) => d.severity === 'error').length} errors)`, {
          details: { diagnostics: result.diagnostics },
        });
      }
      base = result.bundle;
    }
  }

  const recordings = await recordingsFor(dir, head, options.recordings);
  progress(`${recordings.length} recorded requests`);
  const report: SimulateReport = { seed, invariants: [], passed: true, durationMs: 0 };
  if (base) {
    progress('replaying recordings against base and head');
    const gates = base.repository.spec?.gates ?? head.repository.spec?.gates ?? {};
    report.replay = replay(base, head, recordings, gates);
  }
  progress(`searching ${head.invariants.length} invariants (seed ${seed})`);
  report.invariants = checkInvariants(head, recordings, { seed, runs: options.runs ?? 1000 });
  report.passed = (report.replay?.failed.length ?? 0) === 0 && report.invariants.every((i) => i.holds);
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

async function loadHead(dir: string, head: string | undefined): Promise<Bundle> {
  if (head === undefined || head === 'worktree') {
    const result = await tryLoadBundle(dir);
    if (!result.bundle) throw invalidPolicy(result.diagnostics, dir);
    return result.bundle;
  }
  const result = bundleAtRef(dir, head);
  if (!result.bundle) throw invalidPolicy(result.diagnostics, dir);
  return result.bundle;
}

async function recordingsFor(dir: string, head: Bundle, flag: string | undefined): Promise<RecordedRequest[]> {
  if (flag !== undefined) return loadRecordings(resolvePath(flag));
  const configured = head.repository.spec?.recordings;
  if (!configured) return [];
  const path = join(dir, configured);
  // A repo that names a recordings folder before it has any is fine: there is nothing to replay.
  return existsSync(path) ? loadRecordings(path) : [];
}
