/**
 * The evidence record and its hash chain.
 *
 * Format v1: a record is one JSON line `{ seq, ts, type, data, prev, hash }` where
 * `hash = sha256(canonical({seq, ts, type, data, prev}))` and `prev` is the previous record's hash,
 * so editing, removing or reordering any record breaks every hash after it; checkpoints sign the head
 * so the chain cannot simply be recomputed.
 *
 * Format v2 (the file store's default): records carry no hash of their own,
 * `{ seq, ts, type, [refs,] [res,] data }`, and each batch ends in a seal record, a v1-shaped record
 * whose hash also covers the exact bytes of the batch's records and whose data lists a CRC-32 per
 * record. The seal's hash makes the batch tamper-evident; the CRCs only say which record of a broken
 * batch changed. Checkpoints stay v1-shaped and sign the last seal's hash. See docs/approvals-and-evidence.md.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { canonical } from '../encoding/canonical.ts';

export const GENESIS = '0'.repeat(64);
export const CHECKPOINT = 'checkpoint';
/** written by the store when it signs with a different key than the log's last checkpoint */
export const KEY_ROTATED = 'key.rotated';

/** v2: closes a batch; its hash covers the batch's record lines (see sealHash) */
export const SEAL = 'evidence.seal';
/** v2: a value written once (a decision, a statement template) that later records reference by id */
export const FACT = 'evidence.fact';

export interface SealData {
  /** seq of the batch's first record; the batch runs up to the seal's seq - 1 */
  from: number;
  /** CRC-32 of each record line of the batch, 8 hex digits each, concatenated */
  crc: string;
}

/** A fact's id is its record's seq: later records reference it as `refs: { path: seq }`. */
export interface FactData {
  value: unknown;
}

export interface EvidenceRecord<T = unknown> {
  seq: number;
  /** ISO-8601 instant the record was appended */
  ts: string;
  type: string;
  data: T;
  prev: string;
  hash: string;
}

/**
 * A line as read from a log: a v1 record, a seal, or a v2 record (which has no prev or hash of its
 * own: `sealed` is false until its seal has been read, and readers give it the seal's).
 */
export interface LogRecord<T = unknown> extends EvidenceRecord<T> {
  /** v2 only: member path in data -> fact id whose value belongs there */
  refs?: Record<string, number>;
  /** v2 only: results folded into this record (they precede it logically) */
  res?: unknown[];
  /** false for a v2 record (hashed by its batch's seal, not by itself) */
  chained: boolean;
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

/**
 * v2: a seal's hash covers the exact text of its batch's record lines, then the seal's own fields
 * as in a v1 record, so a batch costs one hash however many records it holds.
 */
export function sealHash(recordLines: string, seq: number, ts: string, dataJson: string, prev: string): string {
  return sha256Hex(`${recordLines}\n${hashInput(seq, ts, SEAL, dataJson, prev)}`);
}

/** A v2 record line (no hash of its own); `refs` and `res` are already-encoded JSON or undefined. */
export function compactLine(seq: number, ts: string, type: string, dataJson: string, refsJson?: string, resJson?: string): string {
  return `{"seq":${seq},"ts":${JSON.stringify(ts)},"type":${JSON.stringify(type)},${refsJson === undefined ? '' : `"refs":${refsJson},`}${resJson === undefined ? '' : `"res":${resJson},`}"data":${dataJson}}`;
}

/** v2: the seal record closing a batch of record lines (seqs `from`..seq-1, CRCs in order). */
export function sealBatch(recordLines: string[], seq: number, ts: string, from: number, crcs: string, prev: string): { line: string; hash: string } {
  const dataJson = `{"crc":"${crcs}","from":${from}}`;
  const hash = sealHash(recordLines.length === 1 ? (recordLines[0] as string) : recordLines.join('\n'), seq, ts, dataJson, prev);
  const line = `{"seq":${seq},"ts":${JSON.stringify(ts)},"type":"${SEAL}","data":${dataJson},"prev":${JSON.stringify(prev)},"hash":${JSON.stringify(hash)}}`;
  return { line, hash };
}

/** sealBatch over the batch's record lines already encoded (joined by newlines): what the store writes. */
export function sealBatchBytes(records: Buffer, seq: number, ts: string, from: number, crcs: string, prev: string): { line: string; hash: string } {
  const dataJson = `{"crc":"${crcs}","from":${from}}`;
  const hash = createHash('sha256')
    .update(records)
    .update(`\n${hashInput(seq, ts, SEAL, dataJson, prev)}`, 'utf8')
    .digest('hex');
  const line = `{"seq":${seq},"ts":${JSON.stringify(ts)},"type":"${SEAL}","data":${dataJson},"prev":${JSON.stringify(prev)},"hash":${JSON.stringify(hash)}}`;
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

/** Parses one line; undefined when it is not a structurally valid record (v1, seal or v2). */
export function parseRecord(line: string): LogRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1 || typeof r.ts !== 'string' || typeof r.type !== 'string' || !('data' in r)) {
    return undefined;
  }
  if (typeof r.prev === 'string' && typeof r.hash === 'string') {
    if ('refs' in r || 'res' in r) return undefined;
    r.chained = true;
    return r as unknown as LogRecord;
  }
  // v2: neither prev nor hash, and never a seal or checkpoint (those are always chained)
  if ('prev' in r || 'hash' in r || r.type === SEAL || r.type === CHECKPOINT) return undefined;
  if (r.refs !== undefined && !isRefs(r.refs)) return undefined;
  if (r.res !== undefined && !Array.isArray(r.res)) return undefined;
  r.prev = '';
  r.hash = '';
  r.chained = false;
  return r as unknown as LogRecord;
}

function isRefs(v: unknown): v is Record<string, number> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  return Object.values(v).every((id) => Number.isSafeInteger(id));
}

export function isSealData(data: unknown): data is SealData {
  if (data === null || typeof data !== 'object') return false;
  const d = data as Record<string, unknown>;
  return Number.isSafeInteger(d.from) && typeof d.crc === 'string' && /^(?:[0-9a-f]{8})*$/.test(d.crc);
}

export function isFactData(data: unknown): data is FactData {
  return data !== null && typeof data === 'object' && 'value' in data;
}

export function isCheckpointData(data: unknown): data is CheckpointData {
  if (data === null || typeof data !== 'object') return false;
  const d = data as Record<string, unknown>;
  return Number.isSafeInteger(d.upTo) && typeof d.head === 'string' && typeof d.keyId === 'string' && typeof d.sig === 'string';
}
