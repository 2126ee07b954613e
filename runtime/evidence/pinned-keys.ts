/**
 * The verification keys pinned in the policy repo (`spec.evidence.keys` of portcullis.yaml). They
 * are reviewed like any policy change, so an attacker on the gateway's host cannot swap them the way
 * they could swap a public key lying next to the log.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument, parseAllDocuments } from 'yaml';
import { PortcullisError } from '../errors.ts';
import { keyIdOf, toPublicKey } from './keys.ts';

export interface PinnedKey {
  name: string;
  publicKey: string;
  keyId: string;
}

export function repositoryFile(policies: string): string | undefined {
  return ['portcullis.yaml', 'portcullis.yml'].map((f) => join(policies, f)).find((f) => existsSync(f));
}

export async function readPinnedKeys(policies: string): Promise<PinnedKey[]> {
  const file = repositoryFile(policies);
  if (!file) return [];
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  const out: PinnedKey[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const value = doc.toJS() as { kind?: unknown; spec?: { evidence?: { keys?: unknown } } } | null;
    if (value?.kind !== 'Repository') continue;
    const keys = value.spec?.evidence?.keys;
    if (!Array.isArray(keys)) continue;
    for (const [i, k] of keys.entries()) {
      const entry = k as { name?: unknown; publicKey?: unknown };
      if (typeof entry?.publicKey !== 'string') throw new PortcullisError('invalid_argument', `${file}: spec.evidence.keys[${i}] has no publicKey`);
      const key = toPublicKey(entry.publicKey);
      out.push({ name: String(entry.name ?? `key ${i + 1}`), publicKey: entry.publicKey, keyId: keyIdOf(key) });
    }
  }
  return out;
}

/** Adds a public key to portcullis.yaml's spec.evidence.keys (comments and layout are kept). */
export async function pinKey(policies: string, name: string, publicKeyPem: string): Promise<{ file: string; keyId: string; added: boolean }> {
  const file = repositoryFile(policies);
  if (!file) throw new PortcullisError('not_found', `no portcullis.yaml in ${policies}`, { details: { hint: 'pass --policies with the policy repo folder' } });
  const keyId = keyIdOf(toPublicKey(publicKeyPem));
  if ((await readPinnedKeys(policies)).some((k) => k.keyId === keyId)) return { file, keyId, added: false };
  const doc = parseDocument(await readFile(file, 'utf8'));
  if (!doc.hasIn(['spec'])) doc.setIn(['spec'], doc.createNode({}));
  const keys = doc.getIn(['spec', 'evidence', 'keys']);
  const entry = doc.createNode({ name, publicKey: publicKeyPem.trim() + '\n' });
  if (keys && typeof keys === 'object' && 'add' in keys) (keys as { add(v: unknown): void }).add(entry);
  else doc.setIn(['spec', 'evidence', 'keys'], doc.createNode([{ name, publicKey: publicKeyPem.trim() + '\n' }]));
  await writeFile(file, doc.toString());
  return { file, keyId, added: true };
}
