/**
 * Where the gateway's evidence secrets and anchors live. The signing key and the head witness are
 * kept out of the evidence directory: whoever copies, ships or tampers with the log does not get
 * the key that could re-sign it, and a cut of the log is not also a cut of its witness.
 */
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { DEV_KEY_FILE, DEV_PUBLIC_KEY_FILE, ensureDevSigningKey, type SigningKey } from './keys.ts';
import { WITNESS_FILE } from './witness.ts';

export const KEYS_DIR = 'keys';
export const WITNESS_DIR = 'witness';

export function evidenceDirOf(dataDir: string): string {
  return join(dataDir, 'evidence');
}

export function defaultKeyDir(dataDir: string): string {
  return join(dataDir, KEYS_DIR);
}

/** The default head witness of a data directory: beside the evidence directory, not in it. */
export function defaultWitnessFile(dataDir: string): string {
  return join(dataDir, WITNESS_DIR, WITNESS_FILE);
}

/** The public half of the default signing key, to pin in portcullis.yaml. */
export function defaultPublicKeyFile(dataDir: string): string {
  return join(defaultKeyDir(dataDir), DEV_PUBLIC_KEY_FILE);
}

function realish(path: string): string {
  // The file may not exist yet: resolve the nearest existing parent, so a symlinked folder is seen through.
  let p = resolve(path);
  const rest: string[] = [];
  while (!existsSync(p) && dirname(p) !== p) {
    rest.unshift(p.slice(dirname(p).length + 1));
    p = dirname(p);
  }
  return join(realpathSync(p), ...rest);
}

export function isInside(path: string, dir: string): boolean {
  const rel = relative(realish(dir), realish(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A key or witness in the evidence directory would travel and be cut together with the log. */
export function refuseInsideEvidenceDir(path: string, dataDir: string, what: 'key' | 'witness'): void {
  if (!isInside(path, evidenceDirOf(dataDir))) return;
  throw new PortcullisError('invalid_argument', `the evidence ${what === 'key' ? 'signing key' : 'witness'} ${path} is inside the evidence directory ${evidenceDirOf(dataDir)}`, {
    details: {
      hint:
        what === 'key'
          ? 'keep the signing key outside the evidence directory (the default is <data-dir>/keys/; better, a path only the gateway can read, e.g. /etc/portcullis/)'
          : 'put the witness outside the evidence directory, ideally on another disk or host',
    },
  });
}

/**
 * The default signing key, under <data-dir>/keys/. A key an earlier version generated inside the
 * evidence directory is moved there (same key, so the chain's signatures stay valid).
 */
export async function ensureDefaultSigningKey(dataDir: string): Promise<SigningKey & { file: string }> {
  const keyDir = defaultKeyDir(dataDir);
  const old = join(evidenceDirOf(dataDir), DEV_KEY_FILE);
  if (existsSync(old) && !existsSync(join(keyDir, DEV_KEY_FILE))) {
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    await rename(old, join(keyDir, DEV_KEY_FILE));
  }
  if (existsSync(old)) await unlink(old);
  await unlink(join(evidenceDirOf(dataDir), DEV_PUBLIC_KEY_FILE)).catch(() => undefined);
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  return { ...(await ensureDevSigningKey(keyDir)), file: join(keyDir, DEV_KEY_FILE) };
}
