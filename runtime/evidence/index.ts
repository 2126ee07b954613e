/** The evidence store's public surface. */
export { canonical } from '../encoding/canonical.ts';
export { FileEvidenceStore, evidenceLogPath, EVIDENCE_FILE, type EvidenceStore, type FileEvidenceStoreOptions } from './store.ts';
export { verifyEvidence, type EvidenceVerification, type VerifyEvidenceOptions } from './verify.ts';
export { readEvidence, EvidenceIndex } from './reader.ts';
export { ensureDevSigningKey, loadSigningKey, keyIdOf, toPublicKey, DEV_KEY_FILE, DEV_PUBLIC_KEY_FILE, type SigningKey } from './keys.ts';
export type { EvidenceRecord, CheckpointData } from './record.ts';
export type { EvidenceProblem, ProblemKind } from './chain.ts';
