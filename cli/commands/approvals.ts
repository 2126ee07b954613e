/**
 * `portcullis approvals list|show|approve|deny`. Decisions go through the running gateway's admin
 * API (`--admin`, default http://127.0.0.1:6480) as the identity of `--token` / PORTCULLIS_TOKEN:
 * the gateway holding the agent's request must learn of the decision at once, and it is the one
 * writer of the evidence log. With `--data-dir`, list and show read the approval state file
 * directly (no gateway, no token: for an operator on the host); approve and deny never do.
 */
import { gatewayDefaults } from '../../runtime/gateway/config.ts';
import { request } from 'undici';
import { defineCommand } from '../command.ts';
import { PortcullisError, ErrorCodes, type ErrorCode } from '../../runtime/errors.ts';
import { readState, statePath } from '../../runtime/approvals/state-file.ts';
import type { ApprovalRequest, ApprovalStatus } from '../../runtime/approvals/types.ts';
import { resolveIdPrefix, subcommandOf } from '../subcommands.ts';

const DEFAULT_ADMIN = `http://${gatewayDefaults.host}:${gatewayDefaults.adminPort}`;
const STATUSES = ['pending', 'approved', 'denied', 'expired'];

async function callAdmin(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  let res;
  try {
    res = await request(new URL(path, base.endsWith('/') ? base : `${base}/`), {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
  } catch (cause) {
    throw new PortcullisError('unavailable', `cannot reach the gateway admin API at ${base}`, {
      cause,
      details: { hint: 'is the gateway running? pass --admin URL, or --data-dir to read approvals without it' },
    });
  }
  const text = await res.body.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (res.statusCode >= 400) {
    const err = (json?.error ?? {}) as { code?: string; message?: string; hint?: string };
    const code: ErrorCode = (ErrorCodes as readonly string[]).includes(err.code ?? '') ? (err.code as ErrorCode) : 'unavailable';
    throw new PortcullisError(code, err.message ?? `the admin API answered HTTP ${res.statusCode}`, err.hint ? { details: { hint: err.hint } } : {});
  }
  if (!json) throw new PortcullisError('unavailable', `the admin API at ${base} did not answer JSON; is --admin the gateway's admin port?`);
  return json;
}

function describe(a: ApprovalRequest): string {
  const grant = a.grantTtlMs !== undefined ? `grant ${Math.round(a.grantTtlMs / 60000)}m (${a.grantScope})` : 'one request, once';
  const lines = [
    `${a.id}  ${a.status.toUpperCase()}`,
    `  requester  ${a.requester.identity} (session ${a.requester.sessionId})`,
    `  target     ${a.target} (${a.protocol})`,
    `  request    ${a.summary.replaceAll('\n', '\n             ')}`,
    `  rule       ${a.rule.policy}/${a.rule.rule} (${a.rule.file}:${a.rule.line}) at policy ${a.revision.commit?.slice(0, 7) ?? a.revision.digest.slice(0, 12)}`,
    `  approvers  ${a.count} of ${a.approverGroups.join(', ')}; approved by ${a.approvals.map((x) => x.identity + (x.note ? ` ("${x.note}")` : '')).join(', ') || 'nobody yet'}`,
    `  outcome    ${grant}`,
    `  asked      ${a.createdAt}; ${a.status === 'pending' ? 'expires' : 'valid until'} ${a.expiresAt}`,
  ];
  lines.push(`  reason     ${a.reason ?? '(none given by the agent)'}`);
  if (a.denial) lines.push(`  denied     by ${a.denial.identity} at ${a.denial.at}: ${a.denial.reason}`);
  if (a.consumedAt) lines.push(`  used       ${a.consumedAt}`);
  return `${lines.join('\n')}\n`;
}

function row(a: ApprovalRequest): string {
  return `${a.id}  ${a.status.padEnd(8)}  ${a.createdAt}  ${a.requester.identity} -> ${a.target}  ${a.rule.policy}/${a.rule.rule}  ${a.summary.length > 80 ? `${a.summary.slice(0, 79)}…` : a.summary}\n`;
}

export default defineCommand(
  {
    name: 'approvals',
    summary: 'List, show, approve and deny review requests.',
    usage: 'portcullis approvals list [--status pending] | show ID | approve ID [--note TEXT] | deny ID --reason TEXT  [--admin URL --token T | --data-dir DIR] [--format text|json]',
    options: {
      admin: { type: 'string' },
      token: { type: 'string' },
      'data-dir': { type: 'string' },
      status: { type: 'string' },
      note: { type: 'string' },
      reason: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
    help: {
      admin: `the gateway's admin API (default $PORTCULLIS_ADMIN, else ${DEFAULT_ADMIN})`,
      token: 'a token of a human identity (default: $PORTCULLIS_TOKEN)',
      'data-dir': 'list/show only: read the approval state in this data directory instead of asking a gateway',
      status: 'list: only requests with this status (pending, approved, denied, expired)',
      note: 'approve: a note kept with the approval',
      reason: 'deny: why (required; a denial is final)',
      format: 'text (default) or json',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const { sub, arg } = subcommandOf(
      'approvals',
      { list: undefined, show: 'approval id', approve: 'approval id', deny: 'approval id' },
      positionals,
      'portcullis approvals list | show ID | approve ID | deny ID --reason TEXT',
    );
    let id = arg;
    const format = values.format;
    if (format !== 'text' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be text or json, not '${format}'`);
    if (values.status !== undefined && !STATUSES.includes(values.status)) throw new PortcullisError('invalid_argument', `--status must be one of ${STATUSES.join(', ')}`);
    const out = (s: string) => process.stdout.write(s);
    const print = (list: ApprovalRequest[] | ApprovalRequest) => {
      if (format === 'json') out(`${JSON.stringify(Array.isArray(list) ? { approvals: list } : { approval: list })}\n`);
      else if (Array.isArray(list)) out(list.length ? list.map(row).join('') : 'no approval requests\n');
      else out(describe(list));
    };

    if (values['data-dir'] !== undefined) {
      if (sub === 'approve' || sub === 'deny') {
        throw new PortcullisError('invalid_argument', `${sub} goes through the running gateway, not the data directory`, {
          details: { hint: 'pass --admin URL and --token (or PORTCULLIS_TOKEN); the gateway holding the request must see the decision' },
        });
      }
      const state = await readState(statePath(values['data-dir']));
      if (sub === 'list') {
        print(state.requests.filter((r) => !values.status || r.status === values.status).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1)));
      } else {
        const full = resolveIdPrefix(
          'approval request',
          id!,
          state.requests.map((r) => r.id),
          'ap',
        );
        print(state.requests.find((r) => r.id === full)!);
      }
      return 0;
    }

    const token = values.token ?? process.env.PORTCULLIS_TOKEN;
    if (!token) {
      throw new PortcullisError('unauthenticated', 'approvals need a token of a human identity', {
        details: { hint: 'pass --token or set PORTCULLIS_TOKEN (in development: portcullis token issue --subject alice)' },
      });
    }
    const base = values.admin ?? process.env.PORTCULLIS_ADMIN ?? DEFAULT_ADMIN;
    if (id !== undefined) {
      // A unique prefix is enough, as for git commits: `approve 9bb5` approves ap-9bb5df0359ac.
      const all = (await callAdmin(base, token, 'GET', 'api/approvals')).approvals as ApprovalRequest[];
      id = resolveIdPrefix(
        'approval request',
        id,
        all.map((a) => a.id),
        'ap',
      );
    }
    const path = (suffix = '') => `api/approvals${id ? `/${encodeURIComponent(id)}` : ''}${suffix}`;
    switch (sub) {
      case 'list': {
        const r = await callAdmin(base, token, 'GET', `${path()}${values.status ? `?status=${values.status as ApprovalStatus}` : ''}`);
        print(r.approvals as ApprovalRequest[]);
        break;
      }
      case 'show':
        print((await callAdmin(base, token, 'GET', path())).approval as ApprovalRequest);
        break;
      case 'approve': {
        const a = (await callAdmin(base, token, 'POST', path('/approve'), values.note ? { note: values.note } : {})).approval as ApprovalRequest;
        if (format === 'json') print(a);
        else
          out(
            a.status === 'approved'
              ? `approved ${a.id}${a.grantId ? `: grant ${a.grantId} open for ${Math.round((a.grantTtlMs ?? 0) / 60000)} minutes` : ': the request may run once'}\n`
              : `recorded your approval of ${a.id}: ${a.approvals.length} of ${a.count}\n`,
          );
        break;
      }
      case 'deny': {
        if (!values.reason?.trim()) throw new PortcullisError('invalid_argument', 'deny needs --reason', { details: { hint: 'a denial is final; say why' } });
        const a = (await callAdmin(base, token, 'POST', path('/deny'), { reason: values.reason })).approval as ApprovalRequest;
        if (format === 'json') print(a);
        else out(`denied ${a.id}\n`);
        break;
      }
    }
    return 0;
  },
);
