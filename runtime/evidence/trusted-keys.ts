/**
 * Which public keys `evidence verify` trusts: the ones given on the command line, else the ones
 * pinned in the policy repo. Never a key found in the data directory: whoever can rewrite the log
 * there can replace that key too.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PortcullisError } from '../errors.ts';
import { defaultPublicKeyFile } from './custody.ts';
import { toPublicKey } from './keys.ts';
import { readPinnedKeys, repositoryFile } from './pinned-keys.ts';

export interface TrustedKeys {
  keys: KeyObject[];
  /** where they came from, for the verification's report */
  source: string;
}

export async function verificationKeys(opts: { keyFiles: readonly string[]; policies: string; dataDir: string }): Promise<TrustedKeys> {
  if (opts.keyFiles.length > 0) {
    const keys: KeyObject[] = [];
    for (const file of opts.keyFiles) {
      let pem: string;
      try {
        pem = await readFile(file, 'utf8');
      } catch (cause) {
        throw new PortcullisError('not_found', `cannot read the checkpoint key ${file}`, { cause, details: { hint: 'check the --key path' } });
      }
      keys.push(toPublicKey(pem));
    }
    return { keys, source: `--key ${opts.keyFiles.join(', ')}` };
  }
  const pinned = await readPinnedKeys(opts.policies);
  if (pinned.length === 0) {
    const file = repositoryFile(opts.policies) ?? `${opts.policies}/portcullis.yaml`;
    throw new PortcullisError('not_found', `no evidence verification key is pinned in ${file} (spec.evidence.keys)`, {
      details: {
        hint: `pin the gateway's public key with \`portcullis evidence pin-key --policies ${opts.policies} --data-dir ${opts.dataDir}\` (it reads ${defaultPublicKeyFile(opts.dataDir)}) and commit it, or pass --key PUB.pem`,
      },
    });
  }
  return { keys: pinned.map((k) => toPublicKey(k.publicKey)), source: `pinned in ${repositoryFile(opts.policies)} (${pinned.map((k) => `${k.name} ${k.keyId}`).join(', ')})` };
}
