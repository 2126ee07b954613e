/**
 * The lint runner: build the context once, run every rule, apply suppressions, sort. Rules are
 * pure and independent, so a crash in one is reported as a bug in that rule, not as a lint error.
 */
import { readPolicyFiles, type LoadResult, type SourceFile } from '../bundle/load.ts';
import { resolve as resolvePath } from 'node:path';
import { didYouMean } from '../bundle/diagnostics.ts';
import { PortcullisError } from '../errors.ts';
import { buildContext, type LintContext, type RawDocument } from './context.ts';
import { rules as catalogue } from './catalogue.ts';
import { collectSuppressions, suppressionFor } from './suppress.ts';
import type { Finding, LintReport, LintRule, Place, Severity } from './types.ts';
import type { Origin } from '../bundle/model.ts';

export async function lintRepo(dir: string): Promise<LintReport> {
  const files = await readPolicyFiles(dir);
  return lintFiles(resolvePath(dir), files);
}

export function lintFiles(root: string, files: readonly SourceFile[], rules: readonly LintRule[] = catalogue, compiled?: LoadResult): LintReport {
  const started = performance.now();
  const ctx = buildContext(root, files, compiled);
  const suppressions = collectSuppressions(ctx);
  const findings: Finding[] = [];
  const suppressed: LintReport['suppressed'] = [];

  for (const rule of rules) {
    if (ctx.partial && rule.wholeRepo) continue;
    let raw;
    try {
      raw = rule.check(ctx);
    } catch (err) {
      throw PortcullisError.from(err, 'internal', `lint rule ${rule.id} failed: ${(err as Error).message}`);
    }
    for (const r of raw) {
      const { file, line, column, origin, pointer } = locate(ctx, r.at);
      const finding: Finding = {
        rule: rule.id,
        severity: weaker(r.severity, rule.severity),
        message: r.message,
        file,
        line,
        column,
        hint: r.hint ?? rule.fix,
      };
      const s = !rule.fromLoader && origin ? suppressionFor(suppressions, rule.id, origin, pointer) : undefined;
      if (s) {
        s.used = true;
        suppressed.push({ ...finding, reason: s.reason });
      } else findings.push(finding);
    }
  }

  const known = new Set(catalogue.map((r) => r.id));
  const unused = catalogue.find((r) => r.id === 'unused-suppression');
  if (unused && rules.includes(unused)) {
    for (const s of suppressions) {
      if (s.used) continue;
      const pos = s.origin.locate(`${s.pointer}/rule`);
      const guess = known.has(s.rule) ? undefined : didYouMean(s.rule, known);
      findings.push({
        rule: unused.id,
        severity: unused.severity,
        message: known.has(s.rule) ? `suppression of '${s.rule}' silences nothing here` : `suppression names unknown lint rule '${s.rule}'`,
        file: s.origin.file,
        ...pos,
        hint: guess ? `did you mean '${guess}'?` : unused.fix,
      });
    }
  }

  findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column || (a.rule < b.rule ? -1 : 1)));
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { root, files: files.length, findings, suppressed, counts, durationMs: Math.round(performance.now() - started) };
}

const order: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

function weaker(requested: Severity | undefined, base: Severity): Severity {
  return requested !== undefined && order[requested] < order[base] ? requested : base;
}

function locate(ctx: LintContext, at: Place): { file: string; line: number; column: number; origin?: Origin; pointer?: string } {
  if ('origin' in at) return { file: at.origin.file, ...at.origin.locate(at.pointer), origin: at.origin, pointer: at.pointer };
  // A raw position belongs to the document it falls in, so that document's suppressions apply.
  let doc: RawDocument | undefined;
  for (const d of ctx.documents) if (d.file === at.file && d.origin.line <= at.line && (!doc || d.origin.line >= doc.origin.line)) doc = d;
  return { ...at, ...(doc ? { origin: doc.origin } : {}) };
}
