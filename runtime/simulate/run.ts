/**
 * `portcullis simulate`: load the base revision from git history and the head (a revision or the
 * work tree), replay the recordings against both, then search every invariant of both.
 * The base revision is the judge: its gates, its recordings and its invariants apply to the pull
 * request, and what the head changes in them is reported as a safety change of its own.
 * Progress goes to a callback; the caller decides whether anyone is watching.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { tryLoadBundle } from '../bundle/load.ts';
import { invalidPolicy } from '../bundle/diagnostics.ts';
import type { Bundle } from '../bundle/model.ts';
import { shortRevision } from '../bundle/revision.ts';
import { PortcullisError } from '../errors.ts';
import type { RecordedRequest } from '../recording/format.ts';
import { safetyChanges, type RecordingCounts } from '../safety/changes.ts';
import { governedRepository } from '../safety/governed.ts';
import { bundleAtRef, filesAtRef } from './git.ts';
import { checkInvariants } from './invariants.ts';
import { isUrl, loadRecordings, mergeRecordings, recordingsAtRef } from './recordings.ts';
import { defaultGates, replay } from './replay.ts';
import type { SimulateReport } from './types.ts';

export interface SimulateOptions {
  dir: string;
  /** git ref of the base revision; omitted: invariants only */
  base?: string;
  /** git ref, or 'worktree' (default) */
  head?: string;
  /** file, folder or http(s) URL of recordings; default: the base's (else the head's) spec.recordings */
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
  const base = options.base ? loadBase(dir, options.base, progress) : undefined;

  const warnings: string[] = [];
  const source = await recordingsFor(dir, head, base && options.base ? { bundle: base, ref: options.base } : undefined, options.head, options.recordings, warnings);
  const recordings = source.recordings;
  progress(`${recordings.length} recorded requests`);
  const report: SimulateReport = { seed, invariants: [], passed: true, durationMs: 0, warnings, recordings: { source: source.label, requests: recordings.length } };
  if (base) {
    progress('replaying recordings against base and head');
    // The base's gates (or the head's where stricter): a pull request cannot relax its own gate.
    report.replay = replay(base, head, recordings, governedRepository(base.repository, head.repository).spec?.gates ?? defaultGates);
    report.safety = { base: shortRevision(base.revision), changes: safetyChanges(base, head, source.counts), failed: false };
    report.safety.failed = report.safety.changes.some((c) => c.weakens);
  }
  const invariantCount = head.invariants.length + (base?.invariants.length ?? 0);
  progress(`searching ${invariantCount} invariants of base and head (seed ${seed})`);
  report.invariants = checkInvariants(head, recordings, { seed, runs: options.runs ?? 1000 }, base);
  report.passed = (report.replay?.failed.length ?? 0) === 0 && report.invariants.every((i) => i.holds) && !report.safety?.failed;
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

function loadBase(dir: string, ref: string, progress: (m: string) => void): Bundle | undefined {
  progress(`loading base ${ref} from git history`);
  if (filesAtRef(dir, ref).length === 0) return undefined;
  const result = bundleAtRef(dir, ref);
  if (!result.bundle) {
    throw new PortcullisError('invalid_policy', `the base revision ${ref} does not load (${result.diagnostics.filter((d) => d.severity === 'error').length} errors)`, {
      details: { diagnostics: result.diagnostics },
    });
  }
  return result.bundle;
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

interface Source {
  recordings: RecordedRequest[];
  label: string;
  counts?: RecordingCounts;
}

/**
 * Which recordings judge the change: `--recordings` (a file, folder or URL outside the pull
 * request), else the base's `spec.recordings`. A folder in the repo is read as the base commit has
 * it, plus whatever the head adds, so deleting recordings in the pull request removes nothing from
 * its own replay (and is reported as a safety change).
 */
async function recordingsFor(dir: string, head: Bundle, base: { bundle: Bundle; ref: string } | undefined, headRef: string | undefined, flag: string | undefined, warnings: string[]): Promise<Source> {
  const configured = base?.bundle.repository.spec?.recordings ?? head.repository.spec?.recordings;
  const counts = base && configured && !isUrl(configured) && !isAbsolute(configured) ? countsAt(dir, base.ref, headRef, configured) : undefined;
  if (flag !== undefined) {
    const recordings = await loadRecordings(isUrl(flag) ? flag : resolvePath(flag));
    return { recordings, label: flag, ...(counts ? { counts } : {}) };
  }
  if (!configured) {
    warnings.push('no recordings: the repo names no spec.recordings and --recordings was not given, so no recorded request was replayed');
    return { recordings: [], label: '(none)' };
  }
  if (isUrl(configured) || isAbsolute(configured)) return { recordings: await loadRecordings(configured), label: configured };
  const path = join(dir, configured);
  const inHead = headRef === undefined || headRef === 'worktree' ? (existsSync(path) ? await loadRecordings(path) : []) : recordingsAtRef(dir, headRef, configured);
  const inBase = base ? recordingsAtRef(dir, base.ref, configured) : [];
  if (inBase.length === 0 && inHead.length === 0) {
    warnings.push(
      `no recordings: the recordings folder ${configured} ${existsSync(path) || inBase.length ? 'holds no recorded request' : 'does not exist'}, so no recorded request was replayed (export some into the policy folder with: portcullis sessions export --out ${configured}/sessions.jsonl)`,
    );
  }
  return { recordings: mergeRecordings(inBase, inHead), label: configured, ...(counts ? { counts } : {}) };
}

function countsAt(dir: string, baseRef: string, headRef: string | undefined, path: string): RecordingCounts {
  const base = recordingsAtRef(dir, baseRef, path).length;
  let head: number;
  if (headRef === undefined || headRef === 'worktree') {
    // Counted synchronously from the work tree through git's view would miss uncommitted files; read them.
    head = countWorktree(join(dir, path));
  } else head = recordingsAtRef(dir, headRef, path).length;
  return { path, base, head };
}

function countWorktree(path: string): number {
  if (!existsSync(path)) return 0;
  let n = 0;
  const walk = (p: string) => {
    const info = statSync(p);
    if (info.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else if (/\.(jsonl|ndjson|json)$/.test(p))
      n += readFileSync(p, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length;
  };
  walk(path);
  return n;
}
