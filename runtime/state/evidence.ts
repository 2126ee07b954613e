/**
 * Which evidence store a gateway writes to: the file store in its data directory (one node, no
 * set-up), or the PostgreSQL store shared by every replica when a state database is configured.
 */
import { join } from 'node:path';
import { ensureDevSigningKey } from '../evidence/keys.ts';
import { FileEvidenceStore, type EvidenceStore, type FileEvidenceStoreOptions } from '../evidence/store.ts';
import { PostgresEvidenceStore } from '../evidence/postgres-store.ts';
import { checkReplicaName, defaultReplicaName } from './replica.ts';

export interface StateOptions {
  /** postgres:// URL of the state database shared by the replicas */
  postgres: string;
  /** default: hostname-pid */
  replica?: string;
}

export interface OpenedEvidence {
  store: EvidenceStore;
  kind: 'file' | 'postgres';
  replica: string;
}

export async function openEvidenceStore(dataDir: string, state: StateOptions | undefined, evidence: FileEvidenceStoreOptions = {}): Promise<OpenedEvidence> {
  const dir = join(dataDir, 'evidence');
  const replica = checkReplicaName(state?.replica ?? defaultReplicaName());
  if (!state) return { store: await FileEvidenceStore.open(dir, evidence), kind: 'file', replica };
  const store = await PostgresEvidenceStore.open({
    url: state.postgres,
    replica,
    // Without a key file each replica signs with the dev key of its own data dir; verification then
    // needs every replica's public key, so production gives them all the same --evidence-key.
    signingKey: evidence.signingKeyFile ? { file: evidence.signingKeyFile } : await ensureDevSigningKey(dir),
    ...(evidence.checkpointEvery !== undefined ? { checkpointEvery: evidence.checkpointEvery } : {}),
    ...(evidence.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: evidence.checkpointIntervalMs } : {}),
    ...(evidence.groupCommitWindowMs !== undefined ? { groupCommitWindowMs: evidence.groupCommitWindowMs } : {}),
  });
  return { store, kind: 'postgres', replica };
}

/** The store's own account of why it cannot write, when it has one. */
export function storeProblem(store: EvidenceStore): string | undefined {
  return (store as { lastError?: () => string | undefined }).lastError?.();
}
