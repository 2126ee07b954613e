/**
 * `portcullis evidence verify|report`. verify replays the evidence log against its hash chain and the Ed25519
 * checkpoint signatures and names the first record that was edited, removed or reordered. Exit 1
 * when the log fails, so a scheduled job or an auditor's script can rely on the status alone.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand, type Command } from '../command.ts';
import { runEvidenceReport } from '../evidence-report.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { DEV_PUBLIC_KEY_FILE } from '../../runtime/evidence/keys.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { evidenceLogPath } from '../../runtime/evidence/store.ts';
import { verifyPostgresEvidence } from '../../runtime/evidence/postgres-verify.ts';
import { describeStateUrl } from '../../runtime/evidence/postgres-url.ts';

const verify = defineCommand(
  {
    name: 'evidence',
    summary: 'Verify the tamper-evident evidence log (and see `portcullis evidence report --help`).',
    usage: 'portcullis evidence verify [--data-dir .portcullis | --state postgres://...] [--key FILE]... [--format text|json] [--require-signed-tail]',
    options: {
      'data-dir': { type: 'string', default: '.portcullis' },
      state: { type: 'string' },
      key: { type: 'string', multiple: true },
      format: { type: 'string', default: 'text' },
      'require-signed-tail': { type: 'boolean' },
    },
    help: {
      'data-dir': 'the gateway data directory; the log is <data-dir>/evidence/evidence.jsonl (default .portcullis)',
      state: 'verify the PostgreSQL evidence shared by replicas at this URL (default: $PORTCULLIS_STATE, else the file log)',
      key: `PEM Ed25519 public key of the checkpoints; repeat for replicas with their own keys (default <data-dir>/evidence/${DEV_PUBLIC_KEY_FILE})`,
      format: 'text (default) or json',
      'require-signed-tail': 'fail when records after the last checkpoint are unsigned (a cleanly stopped gateway ends in one)',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    if (positionals[0] !== 'verify' || positionals.length > 1) {
      throw new PortcullisError('invalid_argument', `unknown evidence subcommand '${positionals.join(' ')}'`, { details: { hint: 'use: portcullis evidence verify, or portcullis evidence report' } });
    }
    const format = values.format;
    if (format !== 'text' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be text or json, not '${format}'`);
    const dir = join(values['data-dir']!, 'evidence');
    const keyFiles = values.key?.length ? values.key : [join(dir, DEV_PUBLIC_KEY_FILE)];
    const keys: string[] = [];
    for (const keyFile of keyFiles) {
      try {
        keys.push(await readFile(keyFile, 'utf8'));
      } catch (cause) {
        throw new PortcullisError('not_found', `cannot read the checkpoint key ${keyFile}`, {
          cause,
          details: { hint: values.key ? 'check the --key path' : 'pass --key with the public key the gateway signs checkpoints with' },
        });
      }
    }
    const stateUrl = values.state ?? (process.env.PORTCULLIS_STATE || undefined);
    const opts = { requireSignedTail: Boolean(values['require-signed-tail']) };
    const where = stateUrl ? describeStateUrl(stateUrl) : evidenceLogPath(dir);
    if (!stateUrl && keys.length > 1) throw new PortcullisError('invalid_argument', 'a file log is signed by one key; pass one --key');
    const result = stateUrl ? await verifyPostgresEvidence(stateUrl, keys, opts) : await verifyEvidence(dir, keys[0] as string, opts);
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ log: where, ...result })}\n`);
    } else if (result.ok) {
      const tail = result.unsignedTail > 0 ? `; ${result.unsignedTail} record${result.unsignedTail === 1 ? '' : 's'} after it not yet signed` : '';
      const journal = result.journalOnly
        ? `\n${result.journalOnly} more acknowledged record${result.journalOnly === 1 ? ' is' : 's are'} only in evidence.journal (after a host crash); the gateway appends them to the log when it next starts\n`
        : '\n';
      process.stdout.write(
        `evidence intact: ${result.records} records, ${result.checkpoints} signed checkpoints, last checkpoint at record ${result.lastCheckpointSeq}${tail}${journal}`,
      );
    } else {
      const p = result.firstProblem!;
      process.stdout.write(
        `evidence TAMPERED at record ${p.seq} (${p.kind}): ${p.message}\n` +
          `  ${result.records} records before it are intact; the last valid checkpoint is record ${result.lastCheckpointSeq}\n`,
      );
    }
    return result.ok ? 0 : 1;
  },
);

/** `report` has its own flags (cli/evidence-report.ts), so it is dispatched before verify's strict parse. */
const evidence: Command = {
  run: (argv) => (argv[0] === 'report' ? runEvidenceReport(argv.slice(1)) : verify.run(argv)),
};

export default evidence;
