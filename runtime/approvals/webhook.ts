/**
 * Announces approval requests and their outcomes to a chat webhook. The body is Slack's incoming
 * webhook shape (`text` plus optional `blocks`), which Mattermost, Rocket.Chat and most others accept.
 * A webhook is a notification, never the approval path: failures are logged, never retried forever,
 * and never block a decision.
 */
import { request } from 'undici';
import { PortcullisError } from '../errors.ts';
import type { ApprovalEvent, ApprovalNotifier, ApprovalRequest } from './types.ts';

export interface WebhookNotifierOptions {
  url: string;
  /** base URL of the web console, for a link to the request */
  consoleUrl?: string;
  timeoutMs?: number;
  /** extra attempts after a failure; default 1 */
  retries?: number;
}

export interface WebhookMessage {
  text: string;
  blocks?: unknown[];
}

const MAX_SUMMARY = 500;

export class WebhookNotifier implements ApprovalNotifier {
  private readonly opts: WebhookNotifierOptions;

  constructor(opts: WebhookNotifierOptions) {
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch (cause) {
      throw new PortcullisError('invalid_argument', `approval webhook URL ${JSON.stringify(opts.url)} is not a URL`, { cause });
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new PortcullisError('invalid_argument', `approval webhook URL must be http(s), not ${parsed.protocol}`);
    }
    this.opts = opts;
  }

  async notify(event: ApprovalEvent): Promise<void> {
    const body = JSON.stringify(webhookMessage(event, this.opts.consoleUrl));
    const timeout = this.opts.timeoutMs ?? 5000;
    let lastError: unknown;
    for (let attempt = 0; attempt <= (this.opts.retries ?? 1); attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * attempt));
      try {
        const res = await request(this.opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
        await res.body.dump();
        if (res.statusCode < 300) return;
        lastError = new Error(`webhook answered HTTP ${res.statusCode}`);
        if (res.statusCode < 500 && res.statusCode !== 429) break;
      } catch (error) {
        lastError = error;
      }
    }
    throw new PortcullisError('unavailable', `approval webhook failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`, { cause: lastError });
  }
}

function ruleName(r: ApprovalRequest): string {
  return `${r.rule.policy}/${r.rule.rule}`;
}

function commitOf(r: ApprovalRequest): string {
  return r.revision.commit?.slice(0, 7) ?? r.revision.digest.slice(0, 12);
}

/** Chat markup is not ours to interpret: escape what Slack treats as control characters. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function code(text: string): string {
  const cut = text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY)}…` : text;
  // a reviewed HTTP request's summary has its headers and masked body on further lines; inline code is one line
  return esc(cut).replace(/`/g, 'ˋ').replace(/\r?\n/g, ' ⏎ ');
}

export function webhookMessage(event: ApprovalEvent, consoleUrl?: string): WebhookMessage {
  const r = event.request;
  const link = consoleUrl ? `${consoleUrl.replace(/\/+$/, '')}/#/approvals/${encodeURIComponent(r.id)}` : undefined;
  let text: string;
  switch (event.kind) {
    case 'requested':
      text =
        `Approval needed (${r.id}): ${esc(r.requester.identity)} wants \`${code(r.summary)}\` on ${esc(r.target)} ` +
        `(rule ${esc(ruleName(r))}, policy ${commitOf(r)}). Approvers: ${r.count} of ${esc(r.approverGroups.join(', '))}.` +
        `${r.reason ? ` Reason given: ${esc(r.reason)}.` : ' No reason given.'}`;
      break;
    case 'approved':
      text =
        `Approved (${r.id}) by ${esc(r.approvals.map((a) => a.identity).join(', '))}: ${esc(r.requester.identity)} on ${esc(r.target)}` +
        (event.grant ? `, grant for rule ${esc(ruleName(r))} until ${event.grant.expiresAt}.` : ', this one request once.');
      break;
    case 'denied':
      text = `Denied (${r.id}) by ${esc(r.denial?.identity ?? '?')}: ${esc(r.requester.identity)} on ${esc(r.target)}. Reason: ${esc(r.denial?.reason ?? '')}`;
      break;
    case 'expired':
      text = `Expired (${r.id}): nobody decided on ${esc(r.requester.identity)}'s request on ${esc(r.target)} in time.`;
      break;
  }
  const blocks: unknown[] = [{ type: 'section', text: { type: 'mrkdwn', text } }];
  if (event.kind === 'requested') {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `\`portcullis approvals approve ${r.id}\`${link ? ` or <${link}|open in the console>` : ''}` }],
    });
  }
  return { text: link && event.kind === 'requested' ? `${text} ${link}` : text, blocks };
}
