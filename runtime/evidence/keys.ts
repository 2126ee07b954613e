/**
 * Checkpoint signing keys (Ed25519, node:crypto). Production passes a key file managed outside the
 * data directory; development generates one next to the log so `portcullis up` needs no set-up.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { PortcullisError } from '../errors.ts';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

export const DEV_KEY_FILE = 'checkpoint-key.pem';
export const DEV_PUBLIC_KEY_FILE = 'checkpoint-key.pub.pem';

/** A short stable name for a public key: sha256 of its SPKI DER, first 16 hex digits. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

function assertEd25519(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new PortcullisError('invalid_argument', `${where} is a ${key.asymmetricKeyType ?? 'symmetric'} key; checkpoints need Ed25519`, {
      details: { hint: 'generate one with `openssl genpkey -algorithm ed25519 -out checkpoint-key.pem`' },
    });
  }
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PortcullisError('failed_precondition', `cannot read the evidence signing key ${file}`, { cause });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (cause) {
    throw new PortcullisError('invalid_argument', `${file} is not a PEM private key`, { cause });
  }
  assertEd25519(privateKey, file);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** Creates `<dir>/checkpoint-key.pem` (0600) and its public half once; racing creators converge. */
export async function ensureDevSigningKey(dir: string): Promise<SigningKey> {
  const file = join(dir, DEV_KEY_FILE);
  const exists = await readFile(file, 'utf8').then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await chmod(tmp, 0o600);
    try {
      await link(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
  const key = await loadSigningKey(file);
  await writeFile(join(dir, DEV_PUBLIC_KEY_FILE), key.publicKey.export({ type: 'spki', format: 'pem' }));
  return key;
}

/** Accepts a KeyObject or PEM text (public or private; only the public half is used). */
export function toPublicKey(key: KeyObject | string): KeyObject {
  try {
    const obj = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
    assertEd25519(obj, 'the verification key');
    return obj;
  } catch (cause) {
    throw PortcullisError.is(cause) ? cause : new PortcullisError('invalid_argument', 'the verification key is not a PEM Ed25519 public key', { cause });
  }
}

export function signMessage(key: KeyObject, message: Buffer): string {
  return sign(null, message, key).toString('base64url');
}

export function verifyMessage(key: KeyObject, message: Buffer, sig: string): boolean {
  try {
    const bytes = Buffer.from(sig, 'base64url');
    return bytes.length === 64 && verify(null, message, key, bytes);
  } catch {
    return false;
  }
}
