// The Portcullis console: plain JavaScript, no framework, no build step. Every value from the API
// is put on the page with textContent, never as markup: statements and samples come from agents.
'use strict';

const TOKEN_KEY = 'portcullis.token';
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

const pill = (text) => el('span', { class: `pill ${text}` }, text);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function flash(message, bad) {
  const f = $('flash');
  f.textContent = message;
  f.className = bad ? 'flash bad' : 'flash';
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (f.hidden = true), 4000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.error && body.error.hint;
  }
}

async function api(path, options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { accept: 'application/json', authorization: `Bearer ${token || ''}` };
  const init = { method: 'GET', ...options, headers };
  if (options && options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const res = await fetch(path, init);
  const body = await res.json().catch(() => null);
  if (res.status === 401) {
    signOut(body && body.error ? body.error.message : 'your session ended; sign in again');
    throw new ApiError(res.status, body);
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// ---- sign in -------------------------------------------------------------------------------

let me = null;

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  try {
    me = await api('/api/me');
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    throw error;
  }
  $('who-name').textContent = `${me.identity} (${me.groups.join(', ') || 'no groups'})`;
  $('who').hidden = false;
  $('nav').hidden = false;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  $('who').hidden = true;
  $('nav').hidden = true;
  show('signin');
  const err = $('signin-error');
  err.textContent = message || '';
  err.hidden = !message;
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const err = $('signin-error');
  err.hidden = true;
  try {
    await signIn($('token').value);
    $('token').value = '';
    if (!location.hash || location.hash === '#/') location.hash = '#/sessions';
    else route();
  } catch (error) {
    err.textContent = error.message + (error.hint ? ` — ${error.hint}` : '');
    err.hidden = false;
  }
});
$('sign-out').addEventListener('click', () => signOut());

// ---- views ---------------------------------------------------------------------------------

const VIEWS = ['signin', 'view-sessions', 'view-session', 'view-approvals', 'view-bundles'];

function show(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', id.startsWith(`view-${a.dataset.view}`));
}

async function route() {
  if (!me) {
    show('signin');
    return;
  }
  const [, view, id] = (location.hash || '#/sessions').split('/').map(decodeURIComponent);
  try {
    if (view === 'sessions' && id) await renderSession(id);
    else if (view === 'approvals') await renderApprovals(id);
    else if (view === 'bundles') await renderBundles();
    else await renderSessions();
    refreshBadge();
  } catch (error) {
    if (error.status !== 401) flash(error.message, true);
  }
}

function filtersFromHash() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

async function renderSessions() {
  show('view-sessions');
  const form = $('session-filters');
  const params = filtersFromHash();
  for (const name of ['agent', 'target', 'effect', 'commit']) form.elements[name].value = params.get(name) || '';
  const { sessions } = await api(`/api/sessions?${params}`);
  const list = $('sessions-list');
  list.replaceChildren();
  if (sessions.length === 0) list.append(el('p', { class: 'muted' }, 'No sessions match.'));
  for (const s of sessions) {
    list.append(
      el(
        'article',
        { class: 'item session', 'data-session': s.sessionId },
        el(
          'div',
          { class: 'row' },
          el('a', { class: 'title', href: `#/sessions/${encodeURIComponent(s.sessionId)}` }, s.identity || '(unknown)'),
          el('span', {}, `→ ${s.target || '?'}`),
          el('span', { class: 'muted' }, s.protocol || ''),
          el('span', { class: 'muted' }, when(s.startedAt)),
        ),
        el(
          'div',
          { class: 'row' },
          el('span', {}, `${s.requests} request${s.requests === 1 ? '' : 's'}`),
          s.effects.allow ? pill('allow') : null,
          s.effects.allow ? String(s.effects.allow) : null,
          s.effects.review ? pill('review') : null,
          s.effects.review ? String(s.effects.review) : null,
          s.effects.deny ? pill('deny') : null,
          s.effects.deny ? String(s.effects.deny) : null,
          el('span', { class: 'muted mono' }, s.commits.join(' ')),
          el('span', { class: 'muted' }, s.endedAt ? `ended: ${s.endReason}` : 'open'),
        ),
      ),
    );
  }
}

$('session-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(event.target)) if (v) params.set(k, String(v));
  location.hash = `#/sessions${params.toString() ? `?${params}` : ''}`;
});

function sampleTable(rows) {
  if (!Array.isArray(rows) || rows.length === 0) return null;
  const objects = rows.every((r) => r && typeof r === 'object' && !Array.isArray(r));
  if (!objects) return el('pre', { class: 'stmt' }, JSON.stringify(rows, null, 2));
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return el(
    'div',
    { class: 'sample' },
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          cols.map((c) => el('th', {}, c)),
        ),
      ),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            {},
            cols.map((c) => el('td', {}, cell(r[c]))),
          ),
        ),
      ),
    ),
  );
}

async function renderSession(id) {
  show('view-session');
  const { summary, session, timeline } = await api(`/api/sessions/${encodeURIComponent(id)}`);
  $('session-id').textContent = id;
  const meta = $('session-meta');
  meta.replaceChildren();
  const add = (k, v) => meta.append(el('dt', {}, k), el('dd', {}, v));
  add('Identity', `${summary.identity || '?'}${summary.kind ? ` (${summary.kind})` : ''}`);
  add('Target', `${summary.target || '?'} (${summary.protocol || '?'})`);
  add('Started', when(summary.startedAt));
  add('Ended', summary.endedAt ? `${when(summary.endedAt)} — ${summary.endReason}` : 'still open');
  if (session.start && session.start.client) add('Client', session.start.client.address);
  if (session.start && session.start.attributes)
    add(
      'Attributes',
      Object.entries(session.start.attributes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    );
  const list = $('timeline');
  list.replaceChildren();
  if (timeline.length === 0) list.append(el('li', { class: 'muted' }, 'No requests in this session.'));
  for (const t of timeline) {
    const r = t.result;
    list.append(
      el(
        'li',
        { class: t.effect },
        el(
          'div',
          { class: 'row' },
          el('strong', {}, `#${t.seq}`),
          pill(t.effect),
          el('span', { class: 'muted' }, when(t.ts)),
          el('span', { class: 'muted mono' }, `policy ${t.commit}`),
          r
            ? el(
                'span',
                { class: 'muted' },
                `${r.status}${r.durationMs !== undefined ? `, ${r.durationMs} ms` : ''}${r.rows !== undefined ? `, ${r.rows} rows` : ''}${r.maskedValues ? `, ${r.maskedValues} masked` : ''}`,
              )
            : null,
        ),
        el('code', { class: 'stmt' }, t.summary),
        el('div', { class: 'muted' }, t.reason, t.rules.length && !t.rules.every((r) => t.reason.includes(r)) ? ` — ${t.rules.join(', ')}` : ''),
        t.approval ? el('div', { class: 'approval' }, t.approval) : null,
        r && r.error ? el('div', { class: 'error' }, `${r.error.code}: ${r.error.message}`) : null,
        r ? sampleTable(r.sample) : null,
      ),
    );
  }
}

let approvalStatus = 'pending';
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    approvalStatus = tab.dataset.status;
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    renderApprovals();
  });
}

async function decide(id, action, input, buttons) {
  const text = input.value.trim();
  if (action === 'deny' && !text) {
    flash('Say why you deny it.', true);
    input.focus();
    return;
  }
  for (const b of buttons) b.disabled = true;
  try {
    const { approval } = await api(`/api/approvals/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      body: action === 'deny' ? { reason: text } : text ? { note: text } : {},
    });
    flash(`${approval.id}: ${approval.status}${approval.status === 'pending' ? ` (${approval.approvals.length} of ${approval.count})` : ''}`);
    await renderApprovals();
    refreshBadge();
  } catch (error) {
    flash(error.message, true);
    for (const b of buttons) b.disabled = false;
  }
}

async function renderApprovals(focusId) {
  show('view-approvals');
  const query = approvalStatus ? `?status=${approvalStatus}` : '';
  const { approvals } = await api(`/api/approvals${query}`);
  const list = $('approvals-list');
  list.replaceChildren();
  if (approvals.length === 0) list.append(el('p', { class: 'muted' }, approvalStatus === 'pending' ? 'Nothing waits for approval.' : 'No approval requests.'));
  for (const a of approvals) {
    const mayDecide = a.status === 'pending' && me && a.requester.identity !== me.identity && me.groups.some((g) => a.approverGroups.includes(g));
    const input = el('input', { placeholder: 'note, or the reason to deny', 'aria-label': `note for ${a.id}` });
    const approve = el('button', { type: 'button', class: 'approve' }, 'Approve');
    const deny = el('button', { type: 'button', class: 'deny' }, 'Deny');
    approve.addEventListener('click', () => decide(a.id, 'approve', input, [approve, deny]));
    deny.addEventListener('click', () => decide(a.id, 'deny', input, [approve, deny]));
    const grant = a.grantTtlMs ? `opens a ${Math.round(a.grantTtlMs / 60000)}-minute grant (${a.grantScope})` : 'allows this one request once';
    list.append(
      el(
        'article',
        { class: 'item approval', id: `approval-${a.id}`, 'data-approval': a.id },
        el(
          'div',
          { class: 'row' },
          el('span', { class: 'title mono' }, a.id),
          pill(a.status),
          el('span', {}, `${a.requester.identity} → ${a.target}`),
          el('span', { class: 'muted' }, `asked ${when(a.createdAt)}`),
          a.status === 'pending' ? el('span', { class: 'muted' }, `expires ${when(a.expiresAt)}`) : null,
        ),
        el('code', { class: 'stmt' }, a.summary),
        el(
          'div',
          { class: 'muted' },
          `rule ${a.rule.policy}/${a.rule.rule} at policy ${a.revision.commit ? a.revision.commit.slice(0, 7) : a.revision.digest.slice(0, 12)}; `,
          `needs ${a.count} of ${a.approverGroups.join(', ')} (${a.approvals.length} so far); ${grant}`,
        ),
        a.reason ? el('div', { class: 'reason' }, `Reason given: ${a.reason}`) : el('div', { class: 'muted reason' }, 'No reason given by the agent.'),
        a.approvals.length ? el('div', { class: 'muted' }, `Approved by ${a.approvals.map((x) => x.identity + (x.note ? ` (“${x.note}”)` : '')).join(', ')}`) : null,
        a.denial ? el('div', { class: 'error' }, `Denied by ${a.denial.identity}: ${a.denial.reason}`) : null,
        mayDecide ? el('div', { class: 'actions' }, input, approve, deny) : a.status === 'pending' ? el('div', { class: 'muted why-not' }, whyNoButtons(a)) : null,
      ),
    );
  }
  if (focusId) {
    const target = document.getElementById(`approval-${focusId}`);
    if (target) target.scrollIntoView({ block: 'center' });
  }
}

/** A pending card without buttons says why this signed-in user cannot decide it. */
function whyNoButtons(a) {
  if (!me) return 'Sign in as an approver to approve or deny.';
  if (a.requester.identity === me.identity) return `You asked for this (${me.identity}); someone else in ${a.approverGroups.join(', ')} has to decide it.`;
  const groups = me.groups.length ? me.groups.join(', ') : 'no group';
  return `You (${me.identity}) cannot decide this: it needs ${a.count} of ${a.approverGroups.join(', ')}, and you are in ${groups}.`;
}

/** `PR #42`, linked when the gateway knew the repository's GitHub address. */
function pullRequestLink(pr) {
  const text = `PR #${pr.number}`;
  return pr.url && /^https:\/\/github\.com\//.test(pr.url) ? el('a', { class: 'pr', href: pr.url, rel: 'noreferrer', target: '_blank' }, text) : el('span', { class: 'pr' }, text);
}

/** What a bundle changed: counts on one line, the rule and document names below. */
function changeSummary(c) {
  const parts = [];
  const line = (what, list) => {
    const n = (k) => list[k].length;
    const counts = [n('added') && `+${n('added')}`, n('removed') && `−${n('removed')}`, n('changed') && `~${n('changed')}`].filter(Boolean);
    if (counts.length) parts.push(`${what} ${counts.join(' ')}`);
  };
  line('rules', c.rules);
  line('documents', c.documents);
  if (parts.length === 0) return el('div', { class: 'muted changes' }, 'no rule or document changed');
  const details = el('ul', { class: 'change-list' });
  for (const [list, label] of [
    [c.rules, 'rule'],
    [c.documents, ''],
  ]) {
    for (const [k, sign] of [
      ['added', 'added'],
      ['removed', 'removed'],
      ['changed', 'changed'],
    ]) {
      for (const name of list[k]) details.append(el('li', { class: `change ${k}` }, `${sign} ${label ? `${label} ` : ''}${name}`));
    }
  }
  return el('details', { class: 'changes' }, el('summary', {}, parts.join('; ')), details);
}

async function renderBundles() {
  show('view-bundles');
  const { bundles } = await api('/api/bundles');
  const list = $('bundles-list');
  list.replaceChildren();
  if (bundles.length === 0) list.append(el('p', { class: 'muted' }, 'No bundle events in the evidence log.'));
  for (const b of bundles) {
    const loaded = b.type === 'bundle.loaded';
    list.append(
      el(
        'article',
        { class: 'item bundle' },
        el(
          'div',
          { class: 'row' },
          pill(loaded ? 'loaded' : 'rejected'),
          el('span', { class: 'mono' }, b.commit || '—'),
          el('span', { class: 'muted' }, when(b.ts)),
          loaded && b.files !== undefined ? el('span', { class: 'muted' }, `${b.files} files`) : null,
          !loaded ? el('span', { class: 'muted' }, `kept ${b.commit || 'nothing'} live`) : null,
          b.pullRequest ? pullRequestLink(b.pullRequest) : null,
        ),
        b.subject ? el('div', {}, b.subject) : null,
        loaded && b.changes ? changeSummary(b.changes) : null,
        !loaded && b.errors ? el('code', { class: 'stmt' }, b.errors.slice(0, 5).join('\n')) : null,
      ),
    );
  }
}

async function refreshBadge() {
  if (!me) return;
  try {
    const { approvals } = await api('/api/approvals?status=pending');
    const badge = $('pending-badge');
    badge.textContent = String(approvals.length);
    badge.hidden = approvals.length === 0;
  } catch {
    // the badge is a convenience; the queue view reports errors
  }
}

window.addEventListener('hashchange', route);
setInterval(() => {
  // Re-rendering would wipe a note being typed, so the queue refreshes only while nobody types in it.
  const typing = $('approvals-list').contains(document.activeElement);
  if (me && !$('view-approvals').hidden && !typing) renderApprovals().catch(() => {});
  else refreshBadge();
}, 5000);

(async () => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    try {
      await signIn(token);
    } catch {
      // expired or revoked: fall through to the sign-in form
    }
  }
  route();
})();
