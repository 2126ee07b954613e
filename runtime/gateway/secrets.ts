/**
 * Secrets are references in the repo ({env: NAME} or {file: PATH}) and are resolved by the gateway
 * at connect time, so agents never hold them and the repo never contains them.
 */
import { readFile } from 'node:fs/promises';
import { PortcullisError } from '../errors.ts';

export type SecretRef = { env: string } | { file: string };

export async function resolveSecret(ref: SecretRef, what: string): Promise<string> {
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined) {
      throw new PortcullisError('failed_precondition', `${what}: environment variable ${ref.env} is not set`, {
        details: { hint: `export ${ref.env}=... in the gateway's environment` },
      });
    }
    return v;
  }
  try {
    return (await readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new PortcullisError('failed_precondition', `${what}: cannot read secret file ${ref.file}`, { cause: err });
  }
}
