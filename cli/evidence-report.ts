/**
 * `portcullis evidence report`: for each policy commit, when it was live, what it decided, what it
 * denied and masked, which approvals it asked for, and the pull request (with reviewers) that
 * introduced it. Mounted as the `report` subcommand of `portcullis evidence`.
 *
 * stdout carries the report and nothing else (so `> report.json` works); notes go to stderr.
 */
import { gatewayDefaults } from '../runtime/gateway/config.ts';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import { PortcullisError } from '../runtime/errors.ts';
import { buildEvidenceReport, renderHtml, renderJson, type BuildEvidenceReportOptions, type GithubOptions } from '../runtime/evidence-report/index.ts';
import { checkReportSignature, parseSignature, signReport } from '../runtime/evidence-report/signature.ts';
import { decisionCsv, CSV_COLUMNS, csvRow, listDecisions } from '../runtime/evidence-report/decisions.ts';
import { defaultKeyDir, defaultWitnessFile } from '../runtime/evidence/custody.ts';
import { DEV_KEY_FILE } from '../runtime/evidence/keys.ts';
import { verificationKeys } from '../runtime/evidence/trusted-keys.ts';
import { defineCommand } from './command.ts';

const formats = ['json', 'html'] as const;
type Format = (typeof formats)[number];

export interface EvidenceReportDeps {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  now?: () => Date;
}

/** A bare date means the start of that day in UTC, not local midnight: reports must not depend on the auditor's timezone. */
export function parseSince(value: string): Date {
  const text = value.trim();
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (text === '' || Number.isNaN(date.getTime())) {
    throw new PortcullisError('invalid_argument', `--since '${value}' is not a date`, { details: { hint: 'use 2030-01-31 or an ISO time like 2030-01-31T12:00:00Z' } });
  }
  return date;
}

function formatOf(flag: string | undefined, out: string | undefined): Format {
  if (flag === undefined) return out !== undefined && /\.html?$/i.test(out) ? 'html' : 'json';
  if (!(formats as readonly string[]).includes(flag)) {
    throw new PortcullisError('invalid_argument', `--format must be json or html, not '${flag}'`, { details: { hint: "run 'portcullis evidence report --help'" } });
  }
  return flag as Format;
}

function command(deps: EvidenceReportDeps) {
  return defineCommand(
    {
      name: 'evidence report',
      summary: 'Report the evidence per policy commit: when it was live, decisions, denials, approvals, masking, and the PR that introduced it.',
      usage:
        'portcullis evidence report [--data-dir .portcullis] [--policies policies] [--commit SHA] [--since DATE] [--format json|html] [--out FILE] [--key PUB.pem]... [--witness FILE | --no-witness] [--sign-key KEY.pem] [--signature FILE]',
      options: {
        'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
        policies: { type: 'string', short: 'p', default: 'policies' },
        commit: { type: 'string' },
        since: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string', short: 'o' },
        key: { type: 'string', multiple: true },
        witness: { type: 'string' },
        'no-witness': { type: 'boolean' },
        'sign-key': { type: 'string' },
        signature: { type: 'string' },
      },
      help: {
        'data-dir': 'the gateway data directory holding evidence/ (default .portcullis)',
        commit: 'only this policy commit (a SHA or a prefix of at least 4 characters)',
        since: 'only evidence from this date or time on (2030-01-31, or ISO 8601)',
        format: 'json or html (default json, or html when --out ends in .html)',
        out: 'write the report to this file instead of stdout',
        policies: "the policy repo: its portcullis.yaml pins the verification keys, its git history gives each commit's access review (default policies)",
        key: 'PEM public key to verify the log with instead of the pinned ones; repeat for several',
        witness: 'the head witness to check the log against (default <data-dir>/witness/evidence.heads)',
        'no-witness': 'verify the chain alone',
        'sign-key': `PEM Ed25519 private key that signs the JSON report (default <data-dir>/keys/${DEV_KEY_FILE} when present)`,
        signature: 'where to write the detached signature (default <out>.sig; needed to sign a report written to stdout)',
      },
    },
    async ({ values }) => {
      const out = values.out;
      const format = formatOf(values.format, out);
      const since = values.since !== undefined ? parseSince(values.since) : undefined;
      if (values.commit !== undefined && values.commit.trim() === '') throw new PortcullisError('invalid_argument', '--commit is empty');
      const env = deps.env ?? process.env;
      // Only with both set is GitHub configured; otherwise the report says PR information is absent.
      const github: GithubOptions | undefined = env.GITHUB_REPOSITORY || env.GITHUB_TOKEN ? { env, ...(deps.fetch ? { fetch: deps.fetch } : {}) } : undefined;
      const dataDir = values['data-dir']!;
      const verify: BuildEvidenceReportOptions['verify'] = await verificationKeys({ keyFiles: values.key ?? [], policies: values.policies!, dataDir }).then(
        (trusted) => ({
          keys: trusted.keys,
          keySource: trusted.source,
          ...(values['no-witness'] ? {} : { witness: values.witness ?? defaultWitnessFile(dataDir) }),
        }),
        (err: unknown) => ({ unavailable: PortcullisError.from(err).message }),
      );
      const report = await buildEvidenceReport({
        verify,
        policies: values.policies!,
        dataDir,
        ...(values.commit !== undefined ? { commit: values.commit } : {}),
        ...(since ? { since } : {}),
        ...(github ? { github } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      });
      const text = format === 'html' ? renderHtml(report) : renderJson(report);
      const stderr = deps.stderr ?? ((t: string) => void process.stderr.write(t));
      // The JSON is what is signed (the HTML is a rendering of it).
      const sigFile = values.signature ?? (out !== undefined && format === 'json' ? `${out}.sig` : undefined);
      const signKey = values['sign-key'] ?? (existsSync(join(defaultKeyDir(dataDir), DEV_KEY_FILE)) ? join(defaultKeyDir(dataDir), DEV_KEY_FILE) : undefined);
      if (values.signature !== undefined && format !== 'json') throw new PortcullisError('invalid_argument', '--signature signs the JSON report; use --format json');
      if (values.signature !== undefined && !signKey) throw new PortcullisError('not_found', 'no key to sign the report with', { details: { hint: 'pass --sign-key KEY.pem' } });
      if (sigFile !== undefined && signKey) {
        let key;
        try {
          key = createPrivateKey(await readFile(signKey, 'utf8'));
        } catch (cause) {
          throw new PortcullisError('invalid_argument', `cannot use ${signKey} to sign the report`, { cause, details: { hint: 'pass --sign-key with a PEM Ed25519 private key' } });
        }
        await writeFile(resolve(sigFile), `${JSON.stringify(signReport(text, key))}\n`);
        stderr(`signed the report: ${sigFile} (check it with \`portcullis evidence verify-report ${out ?? 'REPORT.json'} --signature ${sigFile}\`)\n`);
      }
      const v = report.verification;
      if (v.status === 'failed') stderr("portcullis: the evidence FAILS verification (see the report's verification)\n");
      else if (v.status === 'not-verified') stderr(`portcullis: the evidence is not verified: ${v.reason}\n`);
      if (out !== undefined) {
        try {
          await writeFile(resolve(out), text);
        } catch (err) {
          throw PortcullisError.from(err, 'failed_precondition', `cannot write ${out}: ${(err as Error).message}`);
        }
        stderr(`wrote ${format.toUpperCase()} report for ${report.totals.commits} policy commit(s) to ${out}\n`);
      } else {
        (deps.stdout ?? ((t: string) => void process.stdout.write(t)))(text);
      }
      if (report.github.configured && report.github.note.startsWith('pull request information is incomplete')) stderr(`portcullis: ${report.github.note}\n`);
      return 0;
    },
  );
}

export async function runEvidenceReport(argv: string[], deps: EvidenceReportDeps = {}): Promise<number> {
  return command(deps).run(argv);
}

const verifyReport = defineCommand(
  {
    name: 'evidence verify-report',
    summary: 'Check a JSON evidence report against its detached Ed25519 signature, with the keys pinned in the policy repo.',
    usage: 'portcullis evidence verify-report REPORT.json [--signature REPORT.json.sig] [--policies policies | --key PUB.pem...]',
    options: {
      signature: { type: 'string' },
      policies: { type: 'string', short: 'p', default: 'policies' },
      key: { type: 'string', multiple: true },
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
    },
    help: {
      signature: 'the signature file (default REPORT.json.sig)',
      policies: 'the policy repo whose portcullis.yaml pins the trusted keys (default policies)',
      key: 'a PEM public key to trust instead; repeat for several',
      'data-dir': 'only named in hints (default .portcullis)',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const [file, ...rest] = positionals;
    if (!file || rest.length > 0) throw new PortcullisError('invalid_argument', 'give one report file', { details: { hint: 'portcullis evidence verify-report report.json' } });
    const sigFile = values.signature ?? `${file}.sig`;
    const read = async (path: string) => {
      try {
        return await readFile(path);
      } catch (cause) {
        throw new PortcullisError('not_found', `cannot read ${path}`, { cause });
      }
    };
    const report = await read(file);
    const signature = parseSignature((await read(sigFile)).toString('utf8'), sigFile);
    const trusted = await verificationKeys({ keyFiles: values.key ?? [], policies: values.policies!, dataDir: values['data-dir']! });
    const outcome = checkReportSignature(report, signature, trusted.keys);
    if (!outcome.ok) {
      process.stdout.write(`report NOT authentic: ${outcome.reason}\n`);
      return 1;
    }
    let verification = '';
    try {
      const v = (JSON.parse(report.toString('utf8')) as { verification?: { status?: string } }).verification;
      verification = v?.status ? `; the evidence it reports on was ${v.status === 'verified' ? 'verified' : v.status === 'failed' ? 'FAILING verification' : 'not verified'} when it was made` : '';
    } catch {
      // the signature covers whatever bytes were signed
    }
    process.stdout.write(`report authentic: signed by key ${outcome.keyId} (${trusted.source})${verification}\n`);
    return 0;
  },
);

export function runVerifyReport(argv: string[]): Promise<number> {
  return verifyReport.run(argv);
}

const decisions = defineCommand(
  {
    name: 'evidence decisions',
    summary: 'List decisions one by one (e.g. every allowed request), as CSV for a spreadsheet or JSON lines.',
    usage: 'portcullis evidence decisions [--data-dir .portcullis] [--effect allow|review|deny] [--commit SHA] [--since DATE] [--format csv|json] [--out FILE]',
    options: {
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
      effect: { type: 'string' },
      commit: { type: 'string' },
      since: { type: 'string' },
      format: { type: 'string', default: 'csv' },
      out: { type: 'string', short: 'o' },
    },
    help: {
      'data-dir': 'the gateway data directory holding evidence/ (default .portcullis)',
      effect: 'only decisions with this effect: allow, review or deny (default all)',
      commit: 'only decisions of this policy commit (a SHA or a prefix)',
      since: 'only decisions from this date or time on',
      format: 'csv (default; a header row, then one row per decision) or json (one JSON object per line)',
      out: 'write to this file instead of stdout',
    },
  },
  async ({ values }) => {
    const effect = values.effect;
    if (effect !== undefined && effect !== 'allow' && effect !== 'review' && effect !== 'deny')
      throw new PortcullisError('invalid_argument', `--effect must be allow, review or deny, not '${effect}'`);
    const format = values.format;
    if (format !== 'csv' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be csv or json, not '${format}'`);
    const dir = join(values['data-dir']!, 'evidence');
    if (!existsSync(join(dir, 'evidence.jsonl')))
      throw new PortcullisError('not_found', `no evidence log at ${join(dir, 'evidence.jsonl')}`, { details: { hint: 'point --data-dir at the directory the gateway ran with' } });
    const since = values.since !== undefined ? parseSince(values.since) : undefined;
    const chunks: string[] = format === 'csv' ? [csvRow(CSV_COLUMNS)] : [];
    for await (const d of listDecisions(dir, { ...(effect ? { effect } : {}), ...(values.commit ? { commit: values.commit } : {}), ...(since ? { since } : {}) })) {
      chunks.push(format === 'csv' ? decisionCsv(d) : `${JSON.stringify(d)}\n`);
    }
    if (values.out !== undefined) await writeFile(resolve(values.out), chunks.join(''));
    else process.stdout.write(chunks.join(''));
    return 0;
  },
);

export function runDecisions(argv: string[]): Promise<number> {
  return decisions.run(argv);
}
