/**
 * Which evidence store a gateway writes to: the file store in its data directory (one node, no
 * set-up), or the PostgreSQL store shared by every replica when a state database is configured.
 */
import { join } from 'node:path';
import { defaultWitnessFile, ensureDefaultSigningKey, refuseInsideEvidenceDir } from '../evidence/custody.ts';
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

export interface EvidenceCustody {
  /** `portcullis up` only: a key file given inside the evidence directory is accepted */
  allowKeyInEvidenceDir?: boolean;
}

/**
 * Opens the gateway's store with its key and witness kept out of the evidence directory: the key
 * defaults to <data-dir>/keys/, the witness to <data-dir>/witness/ (both overridable, neither
 * allowed inside the evidence directory outside the local demo).
 */
export async function openEvidenceStore(dataDir: string, state: StateOptions | undefined, evidence: FileEvidenceStoreOptions = {}, custody: EvidenceCustody = {}): Promise<OpenedEvidence> {
  const dir = join(dataDir, 'evidence');
  const replica = checkReplicaName(state?.replica ?? defaultReplicaName());
  if (evidence.signingKeyFile && !custody.allowKeyInEvidenceDir) refuseInsideEvidenceDir(evidence.signingKeyFile, dataDir, 'key');
  const witnessFile = evidence.witnessFile ?? defaultWitnessFile(dataDir);
  refuseInsideEvidenceDir(witnessFile, dataDir, 'witness');
  const signingKeyFile = evidence.signingKeyFile ?? (await ensureDefaultSigningKey(dataDir)).file;
  if (!state) return { store: await FileEvidenceStore.open(dir, { ...evidence, signingKeyFile, witnessFile }), kind: 'file', replica };
  const store = await PostgresEvidenceStore.open({
    url: state.postgres,
    replica,
    witnessFile,
    // Without a key file each replica signs with the dev key of its own data dir; verification then
    // needs every replica's public key, so production gives them all the same --evidence-key.
    signingKey: { file: signingKeyFile },
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
