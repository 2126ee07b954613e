/**
 * The report as one self-contained HTML file for auditors: inline CSS and SVG, no script, and a
 * Content-Security-Policy that forbids fetching anything, so it opens offline and cannot phone
 * home. Pull request URLs are printed as text, not links, for the same reason.
 */
import { decisionsChart, effectColours, label, timelineChart } from './charts.ts';
import { esc } from './escape.ts';
import type { CommitReport, EvidenceReport, PullRequestLookup } from './types.ts';

const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
section.commit{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:16px 20px;margin:16px 0}
.muted{color:#6b7280}.small{font-size:11px}.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}
.note{background:#fff8e1;border:1px solid #f0d48a;border-radius:6px;padding:8px 12px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef1;vertical-align:top}
th{font-weight:600;background:#fafbfc}td.n{text-align:right;font-variant-numeric:tabular-nums}
.allow{color:${effectColours.allow}}.review{color:${effectColours.review}}.deny{color:${effectColours.deny}}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;background:#eef0f3;margin:0 4px 2px 0}
svg text{font:12px system-ui,sans-serif;dominant-baseline:middle}svg text.mono{font-family:ui-monospace,Menlo,monospace}svg text.small{font-size:10px}
@media print{body{background:#fff}section.commit{break-inside:avoid}}
`;

export function renderHtml(report: EvidenceReport): string {
  const t = report.totals;
  const end = report.source.lastTs ?? report.generatedAt;
  const filter = [report.filter.commit ? `commit ${report.filter.commit}` : '', report.filter.since ? `since ${report.filter.since}` : ''].filter(Boolean).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Portcullis evidence report</title>
<style>${css}</style>
</head>
<body><main>
<h1>Portcullis evidence report</h1>
${verificationSection(report)}
<p class="muted">Generated ${esc(report.generatedAt)} from <code>${esc(report.source.evidenceDir)}</code> (${report.source.records} records${report.source.firstTs ? `, ${esc(report.source.firstTs)} – ${esc(report.source.lastTs)}` : ''})${filter ? `; filtered to ${esc(filter)}` : ''}.
</p>
<p class="${report.github.configured && !report.github.note.includes('incomplete') ? 'muted' : 'note'}">${esc(report.github.note)}${report.github.configured ? ` (${report.github.apiCalls} API calls; the rest from the cache)` : ''}</p>
<div class="cards">
${card('policy commits', t.commits)}${card('decisions', t.decisions)}${card('allowed', t.byEffect.allow, 'allow')}${card('sent to review', t.byEffect.review, 'review')}${card('denied', t.byEffect.deny, 'deny')}${card('masked values', t.maskedValues)}${card('sessions', t.sessions)}${card('approvals requested', t.approvalsRequested)}${card('bundles rejected', t.bundlesRejected)}
</div>
<h2>Decisions per commit</h2>
${report.commits.length ? decisionsChart(report.commits) : '<p class="muted">No commits in range.</p>'}
<h2>When each commit was live</h2>
${timelineChart(report.commits, end)}
${unattributed(report)}
<h2>Commits</h2>
${report.commits.map(commitSection).join('\n')}
</main></body>
</html>
`;
}

function verificationSection(report: EvidenceReport): string {
  const v = report.verification;
  if (v.status === 'not-verified') {
    return `<p class="note"><b>Not verified:</b> ${esc(v.reason)}. Run <code>portcullis evidence verify</code> before relying on this report.</p>`;
  }
  const w = v.witness;
  const head =
    v.status === 'verified'
      ? `<b class="allow">Evidence verified</b>: ${v.records} records, ${v.checkpoints} signed checkpoints, the last at record ${v.lastCheckpointSeq}${v.unsignedTail ? `, ${v.unsignedTail} records after it not yet signed` : ''}.`
      : `<b class="deny">Evidence FAILED verification</b> at record ${v.firstProblem?.seq} (${esc(v.firstProblem?.kind ?? '')}): ${esc(v.firstProblem?.message ?? '')}. What follows reads a damaged log.`;
  const witness = w ? `Witness <code>${esc(w.path)}</code>: <b>${esc(w.state)}</b> — ${esc(w.message)}.` : 'Witness: <b>not checked</b> — a cut back to an earlier checkpoint would go unnoticed.';
  return `<p class="${v.status === 'verified' && w?.state === 'ok' ? '' : 'note'}">${head}<br>${witness}<br><span class="muted">Keys: ${esc(v.keys)}</span></p>`;
}

function card(name: string, value: number, cls = ''): string {
  return `<div class="card"><b class="${cls}">${value.toLocaleString('en-US')}</b>${esc(name)}</div>`;
}

function unattributed(report: EvidenceReport): string {
  const u = report.unattributed;
  if (u.approvalEvents + u.grantEvents + u.results === 0) return '';
  return `<p class="note">Not attributed to a commit (their request or decision is not in the log, or is before the --since date): ${u.approvalEvents} approval events, ${u.grantEvents} grant events, ${u.results} results.</p>`;
}

function table(headers: string[], rows: string[][], numeric: number[] = []): string {
  if (rows.length === 0) return '<p class="muted">None.</p>';
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((cell, i) => `<td${numeric.includes(i) ? ' class="n"' : ''}>${cell}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function commitSection(c: CommitReport): string {
  const title = c.commit ? `commit <code>${esc(c.commit)}</code>${c.dirty ? ' with uncommitted changes' : ''}` : `revision <code>${esc(c.key)}</code> (not a git commit)`;
  const d = c.decisions;
  return `<section class="commit" id="${esc(label(c))}">
<h2>${title}</h2>
${pullRequest(c.pullRequest)}
${c.flags.map((f) => `<p class="note"><b>Flag:</b> ${esc(f.message)}</p>`).join('\n')}
<p>Bundle digest${c.digests.length > 1 ? 's' : ''}: ${c.digests.map((x) => `<code>${esc(x.slice(0, 16))}</code>`).join(', ') || '<span class="muted">unknown</span>'}.
First decision ${c.live.firstDecision ? esc(c.live.firstDecision) : '<span class="muted">none</span>'}, last ${c.live.lastDecision ? esc(c.live.lastDecision) : '<span class="muted">none</span>'}.</p>
<h3>Live windows</h3>
${table(
  ['from', 'to', 'ended by'],
  c.live.windows.map((w) => [esc(w.from), w.to ? esc(w.to) : '<i>still live at the end of the log</i>', esc(w.endedBy ?? '')]),
)}
<h3>Decisions: ${d.total} (<span class="allow">${d.byEffect.allow} allow</span>, <span class="review">${d.byEffect.review} review</span>, <span class="deny">${d.byEffect.deny} deny</span>) in ${c.sessions.count} sessions</h3>
<p>Identities: ${c.sessions.identities.map((i) => `<span class="pill">${esc(i)}</span>`).join('') || '<span class="muted">none</span>'}</p>
${table(
  ['target', 'total', 'allow', 'review', 'deny'],
  d.byTarget.map((t) => [esc(t.target), String(t.total), String(t.allow), String(t.review), String(t.deny)]),
  [1, 2, 3, 4],
)}
<h3>Masking</h3>
<p>${c.masking.maskedValues.toLocaleString('en-US')} values masked in ${c.masking.resultsWithMasking} of ${c.masking.results} executed requests.</p>
<h3>Top denying rules</h3>
${table(
  ['rule', 'where', 'denials'],
  c.topDenyingRules.map((r) => [`<code>${esc(r.rule)}</code>`, r.file ? `<code>${esc(r.file)}:${r.line ?? ''}</code>` : '', String(r.count)]),
  [2],
)}
${
  c.reviewsAllowed.total
    ? `<h3>Reviews let through by a grant or an approval (${c.reviewsAllowed.total})</h3>
${table(
  ['when', 'identity', 'target', 'request', 'outcome'],
  c.reviewsAllowed.shown.map((x) => [esc(x.ts), esc(x.identity), esc(x.target), `<code>${esc(x.request)}</code>`, esc(x.outcome)]),
)}
`
    : ''
}<h3>Denials (${c.denials.total}${c.denials.truncated ? `, the ${c.denials.shown.length} most recent shown` : ''})</h3>
${table(
  ['when', 'identity', 'target', 'request', 'rules', 'reason'],
  c.denials.shown.map((x) => [
    esc(x.ts),
    esc(x.identity),
    esc(x.target),
    `<code>${esc(x.request)}</code>`,
    x.rules.map((r) => `<code>${esc(r)}</code>`).join('<br>') || '<i>default deny</i>',
    esc(x.reason),
  ]),
)}
<h3>Approvals: ${c.approvals.requested} requested, ${c.approvals.approved} approved, ${c.approvals.denied} denied, ${c.approvals.expired} expired, ${c.approvals.pending} pending</h3>
${table(
  ['requested', 'requester', 'target', 'request', 'rule', 'status', 'approvers', 'notes'],
  c.approvals.list.map((a) => [
    esc(a.requestedAt),
    esc(a.requester),
    esc(a.target),
    `<code>${esc(a.summary)}</code>`,
    `<code>${esc(a.rule)}</code>`,
    `${esc(a.status)}${a.denialReason ? `: ${esc(a.denialReason)}` : ''}`,
    esc(a.approvers.join(', ')),
    a.notes.map((n) => `${esc(n.approver)}: ${esc(n.note)}`).join('<br>'),
  ]),
)}
${accessReview(c)}
<h3>Grants: ${c.grants.opened} opened, ${c.grants.expired} ended</h3>
${table(
  ['opened', 'identity', 'target', 'rule', 'scope', 'expires', 'ended', 'decisions covered'],
  c.grants.list.map((g) => [
    esc(g.openedAt),
    esc(g.identity),
    esc(g.target),
    `<code>${esc(g.rule)}</code>`,
    esc(g.scope),
    esc(g.expiresAt),
    g.endedAt ? `${esc(g.endedAt)} (${esc(g.endReason ?? '')})` : '',
    `${g.covered.total}${g.covered.decisions.length ? `: ${g.covered.decisions.map((d) => `<code>${esc(d.request)}</code>`).join('<br>')}` : ''}`,
  ]),
)}
</section>`;
}

function accessReview(c: CommitReport): string {
  const r = c.accessReview;
  if (!r) return '<h3>Access review</h3><p class="muted">Not produced (pass --policies with the policy repo to read each commit\'s bundle).</p>';
  return `<h3>Access review</h3><p class="muted">${esc(r.source)}</p>
${table(
  ['rule', 'effect', 'subjects', 'targets', 'actions', 'resources', 'masks', 'approvers'],
  r.entries.map((e) => [
    `<code>${esc(e.rule)}</code>`,
    `<span class="${e.effect}">${e.effect}</span>`,
    esc(e.subjects.join(', ')),
    esc(e.targets.join(', ')),
    esc(e.actions.join(', ')),
    `<code>${esc(e.resources.join(', '))}</code>`,
    esc(e.masks.join('; ')),
    esc(e.approvers ?? ''),
  ]),
)}`;
}

function pullRequest(lookup: PullRequestLookup | undefined): string {
  if (!lookup) return '<p class="muted">Pull request: not looked up (GitHub not configured, or not a git commit).</p>';
  if (lookup.status !== 'found') return `<p class="note">Pull request: ${esc(lookup.note)}</p>`;
  const pr = lookup.pullRequest;
  const reviewers = pr.reviewers.length
    ? pr.reviewers.map((r) => `<span class="pill">${esc(r.login)}: ${esc(r.state.toLowerCase().replace('_', ' '))}</span>`).join('')
    : '<span class="deny">no reviews</span>';
  return `<p>Introduced by pull request <b>#${pr.number}</b> ${esc(pr.title)}${pr.author ? ` by ${esc(pr.author)}` : ''}, ${esc(pr.state)}${pr.mergedAt ? ` ${esc(pr.mergedAt)}` : ''}${pr.baseRef ? ` into <code>${esc(pr.baseRef)}</code>` : ''} — <code>${esc(pr.url)}</code></p>
<p>Reviewers: ${reviewers}</p>`;
}
