/**
 * `portcullis evidence verify`: replays the evidence log against its hash chain and the Ed25519
 * checkpoint signatures and names the first record that was edited, removed or reordered. Exit 1
 * when the log fails, so a scheduled job or an auditor's script can rely on the status alone.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { DEV_PUBLIC_KEY_FILE } from '../../runtime/evidence/keys.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { evidenceLogPath } from '../../runtime/evidence/store.ts';

export default defineCommand(
  {
    name: 'evidence',
    summary: 'Verify the tamper-evident evidence log.',
    usage: 'portcullis evidence verify [--data-dir .portcullis] [--key FILE] [--format text|json] [--require-signed-tail]',
    options: {
      'data-dir': { type: 'string', default: '.portcullis' },
      key: { type: 'string' },
      format: { type: 'string', default: 'text' },
      'require-signed-tail': { type: 'boolean' },
    },
    help: {
      'data-dir': 'the gateway data directory; the log is <data-dir>/evidence/evidence.jsonl (default .portcullis)',
      key: `PEM Ed25519 public key of the checkpoints (default <data-dir>/evidence/${DEV_PUBLIC_KEY_FILE})`,
      format: 'text (default) or json',
      'require-signed-tail': 'fail when records after the last checkpoint are unsigned (a cleanly stopped gateway ends in one)',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    if (positionals[0] !== 'verify' || positionals.length > 1) {
      throw new PortcullisError('invalid_argument', `unknown evidence subcommand '${positionals.join(' ')}'`, { details: { hint: 'use: portcullis evidence verify' } });
    }
    const format = values.format;
    if (format !== 'text' && format !== 'json') throw new PortcullisError('invalid_argument', `--format must be text or json, not '${format}'`);
    const dir = join(values['data-dir']!, 'evidence');
    const keyFile = values.key ?? join(dir, DEV_PUBLIC_KEY_FILE);
    let key: string;
    try {
      key = await readFile(keyFile, 'utf8');
    } catch (cause) {
      throw new PortcullisError('not_found', `cannot read the checkpoint key ${keyFile}`, {
        cause,
        details: { hint: values.key ? 'check the --key path' : 'pass --key with the public key the gateway signs checkpoints with' },
      });
    }
    const result = await verifyEvidence(dir, key, { requireSignedTail: Boolean(values['require-signed-tail']) });
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ log: evidenceLogPath(dir), ...result })}\n`);
    } else if (result.ok) {
      const tail = result.unsignedTail > 0 ? `; ${result.unsignedTail} record${result.unsignedTail === 1 ? '' : 's'} after it not yet signed` : '';
      process.stdout.write(
        `evidence intact: ${result.records} records, ${result.checkpoints} signed checkpoints, last checkpoint at record ${result.lastCheckpointSeq}${tail}\n`,
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
