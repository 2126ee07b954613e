/**
 * `portcullis sessions list|show|export`: recorded sessions, read straight from the evidence log in
 * the data directory (reading needs no running gateway and takes no lock). `export` writes the
 * decided requests as the JSON lines `portcullis simulate --recordings` replays; samples are not
 * exported, and what the agent saw was already masked.
 */
import { gatewayDefaults } from '../../runtime/gateway/config.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { exportRecordings, formatRecordings } from '../../runtime/recording/read.ts';
import { SessionsView, type SessionSummary } from '../../runtime/admin/sessions-view.ts';
import { resolveIdPrefix, subcommandOf } from '../subcommands.ts';

function line(s: SessionSummary): string {
  const effects = (['allow', 'review', 'deny'] as const)
    .filter((e) => s.effects[e] > 0)
    .map((e) => `${e} ${s.effects[e]}`)
    .join(', ');
  return [
    s.sessionId,
    s.startedAt ?? '?',
    `${s.identity ?? '?'} -> ${s.target ?? '?'} (${s.protocol ?? '?'})`,
    `${s.requests} req${effects ? ` [${effects}]` : ''}`,
    s.commits.join(',') || '-',
    s.endedAt ? `ended ${s.endReason}` : 'open',
  ].join('  ');
}

export default defineCommand(
  {
    name: 'sessions',
    summary: 'List, show and export recorded sessions.',
    usage: 'portcullis sessions list [--agent A] [--target T] [--effect E] [--commit C] | show ID | export [--out FILE]  [--data-dir .portcullis] [--format text|json]',
    options: {
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
      format: { type: 'string', default: 'text' },
      agent: { type: 'string' },
      target: { type: 'string' },
      effect: { type: 'string' },
      commit: { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
    help: {
      'data-dir': 'the gateway data directory (default .portcullis)',
      format: 'text (default) or json',
      agent: 'list: sessions of identities whose name contains this',
      target: 'list: sessions on this target',
      effect: 'list: sessions with at least one decision of this effect (allow, deny, review)',
      commit: 'list: sessions with a decision made by a policy commit starting with this',
      out: 'export: write the recordings to this file instead of stdout',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const { sub, arg: id } = subcommandOf('sessions', { list: undefined, show: 'session id', export: undefined }, positionals, 'portcullis sessions list | show ID | export [--out FILE]');
    const format = values.format;
    if (format !== 'text' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be text or json, not '${format}'`);
    const dataDir = values['data-dir']!;
    const view = new SessionsView(dataDir);
    const out = (s: string) => process.stdout.write(s);

    if (sub === 'list') {
      if (values.effect && !['allow', 'deny', 'review'].includes(values.effect)) throw new PortcullisError('invalid_argument', '--effect must be allow, deny or review');
      const filter = Object.fromEntries((['agent', 'target', 'effect', 'commit'] as const).filter((k) => values[k]).map((k) => [k, values[k] as string]));
      const sessions = await view.list(filter, Number.MAX_SAFE_INTEGER);
      if (format === 'json') out(`${JSON.stringify({ sessions })}\n`);
      else out(sessions.length ? sessions.map((s) => `${line(s)}\n`).join('') : 'no sessions\n');
      return 0;
    }
    if (sub === 'show') {
      // A unique prefix of the id is enough.
      const ids = (await view.list({}, Number.MAX_SAFE_INTEGER)).map((s) => s.sessionId);
      const { summary, session, timeline } = await view.get(resolveIdPrefix('session', id!, ids));
      if (format === 'json') {
        out(`${JSON.stringify({ summary, session, timeline })}\n`);
        return 0;
      }
      out(`${line(summary)}\n`);
      for (const t of timeline) {
        const r = t.result;
        const result = r
          ? ` -> ${r.status}, ${r.durationMs} ms${r.rows !== undefined ? `, ${r.rows} rows` : ''}${r.maskedValues ? `, ${r.maskedValues} masked` : ''}${r.error ? `: ${r.error.message}` : ''}`
          : '';
        out(`  #${t.seq} ${t.ts} ${t.effect.toUpperCase()} [${t.rules.join(', ') || 'default'} @ ${t.commit}] ${t.summary}${result}\n`);
        if (t.approval) out(`      ${t.approval}\n`);
        if (r?.sample?.length) out(`      sample: ${JSON.stringify(r.sample)}\n`);
      }
      return 0;
    }
    if (sub === 'export') {
      const recordings = await exportRecordings(join(dataDir, 'evidence'));
      const text = formatRecordings(recordings);
      if (values.out) {
        await writeFile(values.out, text);
        process.stderr.write(`wrote ${recordings.length} recorded requests to ${values.out}\n`);
      } else out(text);
      return 0;
    }
    return 2;
  },
);
