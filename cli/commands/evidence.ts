/**
 * `portcullis evidence verify|pin-key|report|verify-report`. verify replays the evidence log against
 * its hash chain and the Ed25519 checkpoint signatures — by the keys pinned in the policy repo, never
 * a key found beside the log — and against the head witness kept outside the evidence directory, and
 * names the first record that was edited, removed or reordered, or the range a cut removed. Exit 1
 * when the log fails, so a scheduled job or an auditor's script can rely on the status alone.
 */
import { gatewayDefaults } from '../../runtime/gateway/config.ts';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand, type Command } from '../command.ts';
import { runDecisions, runEvidenceReport, runVerifyReport } from '../evidence-report.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { defaultPublicKeyFile, defaultWitnessFile } from '../../runtime/evidence/custody.ts';
import { verifyEvidence, type EvidenceVerification } from '../../runtime/evidence/verify.ts';
import { evidenceLogPath } from '../../runtime/evidence/store.ts';
import { verifyPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { describeStateUrl } from '../../runtime/evidence/postgres-url.ts';
import { pinKey } from '../../runtime/evidence/pinned-keys.ts';
import { verificationKeys } from '../../runtime/evidence/trusted-keys.ts';
import type { WitnessStatus } from '../../runtime/evidence/witness-check.ts';

const verify = defineCommand(
  {
    name: 'evidence',
    summary: 'Verify the tamper-evident evidence log (and see `portcullis evidence report|decisions|verify-report|pin-key --help`).',
    usage:
      'portcullis evidence verify [--data-dir .portcullis | --state postgres://...] [--policies policies] [--key PUB.pem]... [--witness FILE]... [--no-witness] [--format text|json] [--require-signed-tail]',
    options: {
      'data-dir': { type: 'string' },
      state: { type: 'string' },
      policies: { type: 'string', short: 'p', default: 'policies' },
      key: { type: 'string', multiple: true },
      witness: { type: 'string', multiple: true },
      'no-witness': { type: 'boolean' },
      format: { type: 'string', default: 'text' },
      'require-signed-tail': { type: 'boolean' },
    },
    help: {
      'data-dir': 'the gateway data directory; the log is <data-dir>/evidence/evidence.jsonl (default .portcullis)',
      state: 'verify the PostgreSQL evidence shared by replicas at this URL (default: $PORTCULLIS_STATE, else the file log)',
      policies: 'the policy repo whose portcullis.yaml pins the verification keys (spec.evidence.keys; default policies)',
      key: 'PEM Ed25519 public key to trust instead of the pinned ones; repeat for several',
      witness: 'the head witness to check the log against (default <data-dir>/witness/evidence.heads; with --state, only when --data-dir is given); repeat for one per replica',
      'no-witness': 'check the chain alone (a cut back to an earlier checkpoint then goes unnoticed)',
      format: 'text (default) or json',
      'require-signed-tail': 'fail when records after the last checkpoint are unsigned (a cleanly stopped gateway ends in one)',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    if (positionals[0] !== 'verify' || positionals.length > 1) {
      throw new PortcullisError('invalid_argument', `unknown evidence subcommand '${positionals.join(' ')}'`, {
        details: { hint: 'use: portcullis evidence verify, pin-key, report, verify-report or decisions' },
      });
    }
    const format = values.format;
    if (format !== 'text' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be text or json, not '${format}'`);
    if (values['no-witness'] && values.witness?.length) throw new PortcullisError('invalid_argument', '--witness and --no-witness exclude each other');
    const dataDir = values['data-dir'] ?? gatewayDefaults.dataDir;
    const dir = join(dataDir, 'evidence');
    const stateUrl = values.state ?? (process.env.PORTCULLIS_STATE || undefined);
    const trusted = await verificationKeys({ keyFiles: values.key ?? [], policies: values.policies!, dataDir });
    // A replica's witness lives in its own data dir: for --state, only a --data-dir named on the
    // command line stands for a replica (a .portcullis that happens to be here is another log's).
    const fallback = defaultWitnessFile(dataDir);
    const replicaDir = values['data-dir'] !== undefined && existsSync(fallback);
    const witnesses = values['no-witness'] ? [] : values.witness?.length ? values.witness : !stateUrl || replicaDir ? [fallback] : [];
    const opts = { requireSignedTail: Boolean(values['require-signed-tail']) };
    const where = stateUrl ? describeStateUrl(stateUrl) : evidenceLogPath(dir);
    if (!stateUrl && witnesses.length > 1) throw new PortcullisError('invalid_argument', 'a file log has one witness; pass one --witness');
    const result = stateUrl
      ? await verifyPostgresEvidence(stateUrl, trusted.keys, { ...opts, witnesses })
      : await verifyEvidence(dir, trusted.keys, { ...opts, ...(witnesses[0] !== undefined ? { witness: witnesses[0] } : {}) });
    const witnessList: WitnessStatus[] = 'witnesses' in result && Array.isArray(result.witnesses) ? result.witnesses : result.witness ? [result.witness] : [];
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ log: where, keys: trusted.source, ...result })}\n`);
    } else {
      process.stdout.write(verificationText(result, witnessList, trusted.source));
    }
    return result.ok ? 0 : 1;
  },
);

export function verificationText(result: EvidenceVerification, witnesses: readonly WitnessStatus[], keys: string): string {
  const lines: string[] = [];
  if (result.ok) {
    const tail = result.unsignedTail > 0 ? `; ${result.unsignedTail} record${result.unsignedTail === 1 ? '' : 's'} after it not yet signed` : '';
    lines.push(`evidence intact: ${result.records} records, ${result.checkpoints} signed checkpoints, last checkpoint at record ${result.lastCheckpointSeq}${tail}`);
    if (result.journalOnly) {
      lines.push(
        `${result.journalOnly} more acknowledged record${result.journalOnly === 1 ? ' is' : 's are'} only in evidence.journal (after a host crash); the gateway appends them to the log when it next starts`,
      );
    }
  } else {
    const p = result.firstProblem!;
    const intact = p.seq > 1 ? `records 1..${p.seq - 1} are intact` : 'no record before it';
    lines.push(`evidence TAMPERED at record ${p.seq} (${p.kind}): ${p.message}`);
    lines.push(`  ${intact}; the last valid checkpoint is record ${result.lastCheckpointSeq}`);
  }
  lines.push(`  keys: ${keys}`);
  if (witnesses.length === 0) lines.push('  witness: not checked: a cut back to an earlier checkpoint would go unnoticed');
  for (const w of witnesses) {
    const tail = w.unanchoredTail ? `; ${w.unanchoredTail} record${w.unanchoredTail === 1 ? '' : 's'} after the last witnessed head` : '';
    lines.push(`  witness ${w.path}: ${w.state} — ${w.message}${tail}`);
  }
  return `${lines.join('\n')}\n`;
}

const pin = defineCommand(
  {
    name: 'evidence pin-key',
    summary: "Pin the gateway's checkpoint public key in the policy repo (portcullis.yaml spec.evidence.keys), for `evidence verify` to trust.",
    usage: 'portcullis evidence pin-key [--policies policies] [--data-dir .portcullis | --key PUB.pem] [--name NAME]',
    options: {
      policies: { type: 'string', short: 'p', default: 'policies' },
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
      key: { type: 'string' },
      name: { type: 'string', default: 'gateway' },
    },
    help: {
      policies: 'the policy repo folder holding portcullis.yaml (default policies)',
      'data-dir': `the gateway data directory whose default key to pin (<data-dir>/keys/...; default .portcullis)`,
      key: 'the PEM public key file to pin instead',
      name: 'a label for the key in portcullis.yaml (default gateway)',
    },
  },
  async ({ values }) => {
    const file = values.key ?? defaultPublicKeyFile(values['data-dir']!);
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (cause) {
      throw new PortcullisError('not_found', `cannot read the public key ${file}`, {
        cause,
        details: { hint: values.key ? 'check the --key path' : 'start the gateway once (it creates the key), or pass --key' },
      });
    }
    const pinned = await pinKey(values.policies!, values.name!, pem);
    process.stderr.write(
      pinned.added
        ? `pinned key ${pinned.keyId} in ${pinned.file}; commit it, so the repo's review covers the keys evidence is checked with\n`
        : `key ${pinned.keyId} is already pinned in ${pinned.file}\n`,
    );
    return 0;
  },
);

/** `report` and `verify-report` have their own flags (cli/evidence-report.ts), so they are dispatched before verify's strict parse. */
const evidence: Command = {
  run: (argv) =>
    argv[0] === 'report'
      ? runEvidenceReport(argv.slice(1))
      : argv[0] === 'verify-report'
        ? runVerifyReport(argv.slice(1))
        : argv[0] === 'decisions'
          ? runDecisions(argv.slice(1))
          : argv[0] === 'pin-key'
            ? pin.run(argv.slice(1))
            : verify.run(argv),
};

export default evidence;
