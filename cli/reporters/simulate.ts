/**
 * Reports of the change review: the replay and invariant search (`simulate`), the safety
 * configuration a pull request changes, and the permission diff - as Markdown for pull requests and
 * job summaries, and as text for terminals.
 */
import type { PermissionDiff } from '../../runtime/diff/permissions.ts';
import type { SafetyReport } from '../../runtime/safety/types.ts';
import type { ChangeKind, InvariantResult, SimulateReport } from '../../runtime/simulate/types.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s.replace(/`/g, "'").slice(0, 200)}\``;
const icon = (ok: boolean) => (ok ? '✅' : '❌');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const titles: Record<ChangeKind, string> = {
  newlyAllowed: 'Newly allowed (exposure)',
  maskRemoved: 'Mask removed (exposure)',
  limitRaised: 'Row limit raised (exposure)',
  newlyDenied: 'Newly denied (agents will break)',
  newlyReviewed: 'Newly needs review',
  limitLowered: 'Row limit lowered',
  maskAdded: 'Mask added',
};

const kindTitle: Record<ChangeKind, string> = {
  newlyAllowed: 'newly allowed',
  maskRemoved: 'mask removed',
  limitRaised: 'row limit raised',
  newlyDenied: 'newly denied',
  newlyReviewed: 'newly needs review',
  limitLowered: 'row limit lowered',
  maskAdded: 'mask added',
};

const invariantLabel = (i: InvariantResult) => `\`${i.name}\`${i.from === 'base' ? ' (base; removed or changed here)' : ''}`;

export function simulateMarkdown(r: SimulateReport): string {
  const out = [`### ${icon((r.replay?.failed.length ?? 0) === 0 && r.invariants.every((i) => i.holds))} Simulation`];
  for (const w of r.warnings ?? []) out.push('', `⚠️ ${w}`);
  const p = r.replay;
  if (p) {
    out.push(
      '',
      `Replayed ${p.requests} recorded request(s) from ${p.sessions} session(s)${r.recordings ? ` (${cell(r.recordings.source)})` : ''} against \`${p.base}\` → \`${p.head}\`; ${p.unchanged} unchanged.`,
    );
    const changed = p.groups.filter((g) => g.count > 0);
    if (changed.length === 0) out.push('', 'No recorded request changes decision.');
    else {
      out.push('', '| change | requests | gate |', '| --- | --- | --- |');
      for (const g of changed) out.push(`| ${titles[g.kind]} | ${g.count} | ${g.gate === 'fail' ? '❌ fail' : g.gate} |`);
      for (const g of changed) {
        out.push(
          '',
          `<details${g.gate === 'fail' ? ' open' : ''}><summary>${titles[g.kind]}: ${g.count}</summary>`,
          '',
          '| agent | target | rule | change | requests | example |',
          '| --- | --- | --- | --- | --- | --- |',
        );
        for (const b of g.buckets ?? []) {
          const change = `${b.change}${b.masks ? `; ${b.masks.join(', ')}` : ''}`;
          out.push(`| ${cell(b.identity)} | ${cell(b.target)} | ${cell(b.rules.join(', ') || '(default deny)')} | ${cell(change)} | ${b.count} | ${cell(code(b.example.request))} |`);
        }
        if (g.moreBuckets) out.push('', `…and ${g.moreBuckets} more causes.`);
        out.push('', '</details>');
      }
    }
  } else out.push('', 'Replay skipped: no base revision.');
  if (r.invariants.length) {
    out.push('', '| invariant | result |', '| --- | --- |');
    for (const i of r.invariants) {
      if (i.holds) out.push(`| ${invariantLabel(i)} | ✅ holds (${i.runs} requests) |`);
      else {
        const c = i.counterexample!;
        out.push(`| ${invariantLabel(i)} | ❌ ${cell(`${c.identity} on ${c.target}: `)}${cell(code(c.request))} - ${cell(c.violation)} |`);
      }
    }
    out.push('', `Seed ${r.seed}: reproduce with \`portcullis simulate --seed ${r.seed}\`.`);
  }
  return `${out.join('\n')}\n`;
}

export function simulateText(r: SimulateReport): string {
  const lines: string[] = [];
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  const safety = r.safety ? safetyText(r.safety).trimEnd() : '';
  if (safety) lines.push(...safety.split('\n'));
  if (r.replay) {
    const p = r.replay;
    lines.push(
      `replay ${p.base} -> ${p.head}: ${plural(p.requests, 'recorded request')} in ${plural(p.sessions, 'session')}${r.recordings ? ` from ${r.recordings.source}` : ''}, ${p.unchanged} unchanged`,
    );
    for (const g of p.groups) {
      if (g.count === 0) continue;
      lines.push(`  ${kindTitle[g.kind]}: ${g.count} [${g.gate}]`);
      for (const b of g.buckets ?? []) {
        lines.push(`    ${b.count} x ${b.identity} on ${b.target}${b.rules.length ? ` (${b.rules.join(', ')})` : ''}: ${b.change}${b.masks ? `; ${b.masks.join(', ')}` : ''}`);
        lines.push(`      e.g. ${b.example.request}`);
      }
      if (g.moreBuckets) lines.push(`    ...and ${g.moreBuckets} more causes`);
    }
    if (p.groups.every((g) => g.count === 0)) lines.push('  no recorded request changes decision');
  } else {
    lines.push('replay: skipped (no --base, or no policy files at the base revision)');
  }
  for (const i of r.invariants) {
    const name = `${i.name}${i.from === 'base' ? ' (base)' : ''}`;
    if (i.holds) {
      lines.push(`invariant ${name}: holds (${plural(i.runs, 'request')} checked${i.skipped ? `; ${i.skipped}` : ''})`);
      continue;
    }
    const c = i.counterexample!;
    lines.push(`invariant ${name}: BROKEN (${i.file}:${i.line})`);
    lines.push(`  ${c.source === 'recording' ? `recorded request ${c.sessionId}#${c.seq}` : `counterexample after ${plural(c.shrinks ?? 0, 'shrink')}`}: ${c.identity} on ${c.target}: ${c.request}`);
    lines.push(`  ${c.violation}`);
  }
  lines.push(`seed ${r.seed} (reproduce with --seed ${r.seed}); ${r.passed ? 'passed' : 'FAILED'}`);
  return `${lines.join('\n')}\n`;
}

export function safetyMarkdown(s: SafetyReport): string {
  if (s.changes.length === 0) return '';
  const weak = s.changes.filter((c) => c.weakens);
  const a = s.approval;
  const out = [`### ${icon(!s.failed)} Safety configuration changed`];
  out.push(
    '',
    `This pull request changes the configuration that judges it (invariants, gates, limits, suppressions, recordings, policy tests). It is checked with the base \`${s.base}\`'s values${weak.length ? '; the changes that weaken the check need the approval of a designated owner' : ''}.`,
  );
  out.push('', '| change | where | weakens |', '| --- | --- | --- |');
  for (const c of s.changes) out.push(`| ${cell(c.message)} | ${cell(`${c.file}:${c.line}`)} | ${c.weakens ? '⚠️ yes' : 'no'} |`);
  if (weak.length) {
    if (a?.approvedBy.length) out.push('', `✅ Approved by ${a.approvedBy.map((u) => `@${u}`).join(', ')} (owners: ${a.owners.join(', ')}).`);
    else if (a)
      out.push(
        '',
        `❌ Not approved by a designated owner${a.owners.length ? ` (${a.owners.join(', ')})` : ''}${a.problem ? `: ${cell(a.problem)}` : ''}. An owner's approval of the current head commit, then a re-run, passes this section.`,
      );
    else out.push('', '❌ Needs the approval of a designated owner (checked by `portcullis ci github`).');
  }
  return `${out.join('\n')}\n`;
}

export function safetyText(s: SafetyReport): string {
  if (s.changes.length === 0) return '';
  const lines = [`safety configuration changed (judged with the base ${s.base}'s values):`];
  for (const c of s.changes) lines.push(`  ${c.weakens ? 'WEAKENS ' : ''}${c.message} (${c.file}:${c.line})`);
  if (s.failed)
    lines.push(
      `  ${s.approval ? `not approved by a designated owner${s.approval.owners.length ? ` (${s.approval.owners.join(', ')})` : ''}${s.approval.problem ? `: ${s.approval.problem}` : ''}` : 'needs the approval of a designated owner'}`,
    );
  return `${lines.join('\n')}\n`;
}

export function diffMarkdown(d: PermissionDiff, approved = false): string {
  const failed = d.widened > 0 && !approved;
  const out = [`### ${icon(!failed)} Permission diff: ${plural(d.widened, 'widening')}, ${plural(d.narrowed, 'narrowing')}`];
  out.push('', `Computed from the bundles \`${d.base}\` → \`${d.head}\` (${d.points} requests decided under both; no recordings needed).`);
  if (d.changes.length === 0) return `${out.join('\n')}\n`;
  if (d.widened) out.push('', approved ? 'Widening approved by a designated owner.' : 'Widening needs the approval of a designated owner.');
  for (const dir of ['widen', 'narrow'] as const) {
    const rows = d.changes.filter((c) => c.direction === dir);
    if (!rows.length) continue;
    out.push(
      '',
      `<details${dir === 'widen' ? ' open' : ''}><summary>${dir === 'widen' ? 'Widened' : 'Narrowed'}: ${rows.length}</summary>`,
      '',
      '| subjects | target | action | resource | base → head | example |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const c of rows.slice(0, 100)) {
      out.push(
        `| ${cell(c.identities.join(', '))} | ${cell(c.target)} | ${cell(c.action)} | ${cell(`${c.resource}${c.namespace ? ` -n ${c.namespace}` : ''}`)} | ${cell(c.what.join('; '))}${c.head.rules.length ? ` (${cell(c.head.rules.join(', '))})` : ''} | ${cell(code(c.example))} |`,
      );
    }
    if (rows.length > 100) out.push('', `…and ${rows.length - 100} more (run \`portcullis diff --base ${d.base}\`).`);
    out.push('', '</details>');
  }
  return `${out.join('\n')}\n`;
}

export function diffText(d: PermissionDiff): string {
  const lines = [`permission diff ${d.base} -> ${d.head}: ${plural(d.widened, 'widening')}, ${plural(d.narrowed, 'narrowing')} (${d.points} requests decided)`];
  for (const c of d.changes) {
    lines.push(
      `${c.direction === 'widen' ? 'WIDEN ' : 'narrow'} ${c.identities.join(', ')} on ${c.target}: ${c.action} ${c.resource}${c.namespace ? ` -n ${c.namespace}` : ''}: ${c.what.join('; ')}${c.head.rules.length ? ` (${c.head.rules.join(', ')})` : ''} at ${c.file}:${c.line}`,
    );
    lines.push(`       e.g. ${c.example}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The report with every file path rebased from the policy folder to the working directory. */
export function rebaseSimulate(r: SimulateReport, to: (file: string) => string): SimulateReport {
  return {
    ...r,
    invariants: r.invariants.map((i) => ({ ...i, file: to(i.file) })),
    ...(r.replay ? { replay: { ...r.replay, groups: r.replay.groups.map((g) => ({ ...g, buckets: (g.buckets ?? []).map((b) => (b.file ? { ...b, file: to(b.file) } : b)) })) } } : {}),
    ...(r.safety ? { safety: rebaseSafety(r.safety, to) } : {}),
  };
}

export function rebaseSafety(s: SafetyReport, to: (file: string) => string): SafetyReport {
  return { ...s, changes: s.changes.map((c) => ({ ...c, file: to(c.file) })) };
}
