/**
 * The evidence record and its hash chain. A record is one JSON line
 * `{ seq, ts, type, data, prev, hash }` where `hash = sha256(canonical({seq, ts, type, data, prev}))`
 * and `prev` is the previous record's hash, so editing, removing or reordering any record breaks
 * every hash after it; checkpoints sign the head so the chain cannot simply be recomputed.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { canonical } from './canonical.ts';

export const GENESIS = '0'.repeat(64);
export const CHECKPOINT = 'checkpoint';
/** written by the store when it signs with a different key than the log's last checkpoint */
export const KEY_ROTATED = 'key.rotated';

export interface EvidenceRecord<T = unknown> {
  seq: number;
  /** ISO-8601 instant the record was appended */
  ts: string;
  type: string;
  data: T;
  prev: string;
  hash: string;
}

export interface CheckpointData {
  /** seq of the record whose hash is signed (the one just before the checkpoint) */
  upTo: number;
  head: string;
  keyId: string;
  /** base64url Ed25519 signature over checkpointMessage(upTo, head) */
  sig: string;
}

/**
 * The hashed text, built from an already-canonical data string so the data is encoded once. A row
 * of the PostgreSQL store also hashes its `replica` column, so every attribute of the row is covered.
 */
function hashInput(seq: number, ts: string, type: string, dataJson: string, prev: string, replica?: string): string {
  // Keys in sorted order: data, prev, [replica,] seq, ts, type — identical to canonical({seq,ts,type,data,prev[,replica]}).
  const r = replica === undefined ? '' : `"replica":${JSON.stringify(replica)},`;
  return `{"data":${dataJson},"prev":${JSON.stringify(prev)},${r}"seq":${seq},"ts":${JSON.stringify(ts)},"type":${JSON.stringify(type)}}`;
}

/** One-shot hashing (Node >= 20.12) skips the Hash object: about twice as fast for a record's size. */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256Hex(text: string): string {
  // Strings are hashed as UTF-8 either way.
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Builds a record line (without the trailing newline) and its hash. */
export function sealRecord(seq: number, ts: string, type: string, dataJson: string, prev: string, replica?: string): { line: string; hash: string } {
  const hash = sha256Hex(hashInput(seq, ts, type, dataJson, prev, replica));
  const line = `{"seq":${seq},"ts":${JSON.stringify(ts)},"type":${JSON.stringify(type)},"data":${dataJson},"prev":${JSON.stringify(prev)},"hash":${JSON.stringify(hash)}}`;
  return { line, hash };
}

/** The hash a record should have, recomputed from its content. */
export function recordHash(record: Pick<EvidenceRecord, 'seq' | 'ts' | 'type' | 'data' | 'prev'> & { replica?: string }): string {
  return sha256Hex(hashInput(record.seq, record.ts, record.type, canonical(record.data), record.prev, record.replica));
}

/** Domain-separated so a checkpoint signature can never be replayed as any other signature. */
export function checkpointMessage(upTo: number, head: string): Buffer {
  return Buffer.from(`portcullis-evidence-checkpoint:v1:${upTo}:${head}`, 'utf8');
}

/** Parses one line; undefined when it is not a structurally valid record. */
export function parseRecord(line: string): EvidenceRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  if (
    !Number.isSafeInteger(r.seq) || (r.seq as number) < 1 ||
    typeof r.ts !== 'string' || typeof r.type !== 'string' ||
    typeof r.prev !== 'string' || typeof r.hash !== 'string' || !('data' in r)
  ) {
    return undefined;
  }
  return r as unknown as EvidenceRecord;
}

export function isCheckpointData(data: unknown): data is CheckpointData {
  if (data === null || typeof data !== 'object') return false;
  const d = data as Record<string, unknown>;
  return Number.isSafeInteger(d.upTo) && typeof d.head === 'string' && typeof d.keyId === 'string' && typeof d.sig === 'string';
}
