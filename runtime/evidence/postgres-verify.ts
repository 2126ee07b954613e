/**
 * `portcullis evidence verify` for the PostgreSQL store: the same ChainChecker as the file log, fed in
 * seq order, plus the checks only a table needs: the head row must match the last record (rows
 * deleted from the end leave it ahead), and every checkpoint must be signed by one of the given keys
 * (replicas may sign with different keys; production gives them one).
 */
import type { KeyObject } from 'node:crypto';
import pg from 'pg';
import { PortcullisError } from '../errors.ts';
import { ChainChecker, type EvidenceProblem } from './chain.ts';
import { keyIdOf, toPublicKey, verifyMessage } from './keys.ts';
import { CHECKPOINT, checkpointMessage, isCheckpointData, type EvidenceRecord } from './record.ts';
import { EVIDENCE_TABLE, HEAD_TABLE } from './postgres-schema.ts';
import { describeStateUrl } from './postgres-url.ts';
import type { EvidenceVerification, VerifyEvidenceOptions } from './verify.ts';
import { checkWitness, type WitnessStatus } from './witness-check.ts';

export interface PostgresEvidenceRecord<T = unknown> extends EvidenceRecord<T> {
  /** the replica that wrote it (also inside `data` for plain-object records, where the hash covers it) */
  replica: string;
}

const PAGE = 2000;

async function connect(url: string): Promise<pg.Client> {
  const where = describeStateUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, fallback_application_name: 'portcullis-evidence-verify' });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => undefined);
    throw new PortcullisError('unavailable', `cannot reach the evidence state database ${where}: ${(cause as Error).message}`, { cause });
  }
  return client;
}

/** Records in seq order, read page by page (a chain can be far larger than memory). */
export async function* readPostgresEvidence(url: string, opts: { types?: readonly string[]; fromSeq?: number; toSeq?: number } = {}): AsyncGenerator<PostgresEvidenceRecord> {
  const client = await connect(url);
  try {
    let after = (opts.fromSeq ?? 1) - 1;
    for (;;) {
      const types = opts.types ? [...opts.types] : null;
      const r = await client
        .query(
          `SELECT seq, ts, type, data::text AS data, prev, hash, replica FROM ${EVIDENCE_TABLE}
          WHERE seq > $1 AND ($2::text[] IS NULL OR type = ANY($2)) AND ($3::bigint IS NULL OR seq <= $3) ORDER BY seq LIMIT ${PAGE}`,
          [after, types, opts.toSeq ?? null],
        )
        .catch((cause: unknown) => {
          throw unreadable(url, cause);
        });
      for (const row of r.rows) yield toRecord(row);
      if (r.rows.length < PAGE) return;
      after = Number(r.rows[r.rows.length - 1].seq);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why the evidence tables cannot be read, as something the operator can act on (never "a bug"). */
function unreadable(url: string, cause: unknown): PortcullisError {
  const where = describeStateUrl(url);
  const e = cause as { code?: string; message?: string };
  if (e?.code === '42P01')
    return new PortcullisError('not_found', `no evidence tables in ${where}`, { cause, details: { hint: 'check the URL: a gateway with --state creates the tables on its first start' } });
  if (e?.code === '42501') {
    return new PortcullisError('failed_precondition', `cannot read the evidence tables in ${where}: ${e.message}`, {
      cause,
      details: { hint: `connect as a user that may read them, or grant it: GRANT SELECT ON ${EVIDENCE_TABLE}, ${HEAD_TABLE} TO <user>` },
    });
  }
  return new PortcullisError('unavailable', `cannot read the evidence tables in ${where}: ${e?.message ?? String(cause)}${e?.code ? ` (${e.code})` : ''}`, {
    cause,
    details: { hint: 'check that the state database is up and the tables are intact' },
  });
}

function toRecord(row: Record<string, unknown>): PostgresEvidenceRecord {
  return {
    seq: Number(row.seq),
    ts: String(row.ts),
    type: String(row.type),
    data: JSON.parse(String(row.data)),
    prev: String(row.prev),
    hash: String(row.hash),
    replica: String(row.replica),
  };
}

export interface PostgresEvidenceVerification extends EvidenceVerification {
  /** the head row: where the next record will link */
  head: { seq: number; hash: string };
  /** records (checkpoints included) per replica */
  replicas: Record<string, number>;
  /** one status per witness file given (each replica keeps its own) */
  witnesses?: WitnessStatus[];
}

/**
 * Verifies the whole chain. `publicKeys`: one key or several (PEM text or KeyObjects); a checkpoint
 * signed by a key not in the list is a problem.
 */
export async function verifyPostgresEvidence(
  url: string,
  publicKeys: KeyObject | string | readonly (KeyObject | string)[],
  opts: VerifyEvidenceOptions & { witnesses?: readonly string[] } = {},
): Promise<PostgresEvidenceVerification> {
  const keys = new Map<string, KeyObject>();
  for (const k of Array.isArray(publicKeys) ? publicKeys : [publicKeys]) {
    const key = toPublicKey(k as KeyObject | string);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new PortcullisError('invalid_argument', 'verification needs at least one public key');

  // The head is read first and the scan stops there: replicas may go on appending meanwhile.
  const head = await readHead(url);
  // Signatures are checked here against the key named by each checkpoint; the checker does the rest.
  const checker = new ChainChecker();
  const replicas: Record<string, number> = {};
  let problem: EvidenceProblem | undefined;
  let last: PostgresEvidenceRecord | undefined;
  const checkpointHashes = new Map<number, string>();

  for await (const record of readPostgresEvidence(url, { toSeq: head.seq })) {
    const result = checker.push(record);
    if (result === 'seq-mismatch') {
      // Rows come in seq order with seq unique, so a jump can only be a deletion.
      problem = checker.seqProblem(record.seq, false);
      break;
    }
    if (result) {
      problem = result;
      break;
    }
    problem = signatureProblem(record, keys) ?? replicaProblem(record);
    if (problem) break;
    replicas[record.replica] = (replicas[record.replica] ?? 0) + 1;
    if (record.type === CHECKPOINT) checkpointHashes.set(record.seq, record.hash);
    last = record;
  }

  if (!problem) {
    const lastSeq = last?.seq ?? 0;
    if (head.seq > lastSeq) {
      // Rows past the last one read cannot exist (the scan stops at the head), so these are gone.
      problem = { seq: lastSeq + 1, kind: 'removed', message: `records ${lastSeq + 1}..${head.seq} were removed: the head says the chain ends at ${head.seq}` };
    } else if (last && head.hash !== last.hash) {
      problem = { seq: head.seq, kind: 'edited', message: `the head row (seq ${head.seq}) does not match the last record (seq ${lastSeq}): the chain or its head was rewritten` };
    }
  }
  const witnesses: WitnessStatus[] = [];
  for (const path of [...(opts.witnesses ?? []), ...(opts.witness !== undefined ? [opts.witness] : [])]) {
    if (problem) {
      witnesses.push({ path, state: 'not-checked', heads: 0, message: 'not checked: the chain itself fails verification' });
      continue;
    }
    const status = await checkWitness(path, { lastSeq: last?.seq ?? 0, checkpoints: checkpointHashes, chainHasCheckpoints: checker.checkpoints > 0 });
    problem = status.problem;
    delete status.problem;
    witnesses.push(status);
  }
  if (!problem && opts.requireSignedTail && checker.sinceCheckpoint > 0) {
    problem = {
      seq: checker.lastCheckpointSeq + 1,
      kind: 'truncated',
      message: `the last ${checker.sinceCheckpoint} records are not covered by a checkpoint: the last writer did not close cleanly or the tail was cut`,
    };
  }
  return {
    ok: problem === undefined,
    records: checker.records,
    checkpoints: checker.checkpoints,
    lastCheckpointSeq: checker.lastCheckpointSeq,
    unsignedTail: checker.sinceCheckpoint,
    head,
    replicas,
    ...(witnesses.length > 0 ? { witnesses } : {}),
    ...(problem ? { firstProblem: problem } : {}),
  };
}

function signatureProblem(record: PostgresEvidenceRecord, keys: Map<string, KeyObject>): EvidenceProblem | undefined {
  if (record.type !== CHECKPOINT || !isCheckpointData(record.data)) return undefined;
  const data = record.data;
  const key = keys.get(data.keyId);
  if (!key) return { seq: record.seq, kind: 'bad-signature', message: `checkpoint ${record.seq} names key ${data.keyId}, which is not among the verification keys` };
  if (!verifyMessage(key, checkpointMessage(data.upTo, data.head), data.sig)) {
    return { seq: record.seq, kind: 'bad-signature', message: `checkpoint ${record.seq} has an invalid signature over records up to ${data.upTo}` };
  }
  return undefined;
}

/** The replica column is not hashed; where the hashed data names the replica, the two must agree. */
function replicaProblem(record: PostgresEvidenceRecord): EvidenceProblem | undefined {
  const named = (record.data as { replica?: unknown } | null)?.replica;
  if (typeof named === 'string' && named !== record.replica) {
    return { seq: record.seq, kind: 'edited', message: `record ${record.seq} was written by ${named} but its replica column says ${record.replica}` };
  }
  return undefined;
}

async function readHead(url: string): Promise<{ seq: number; hash: string }> {
  const client = await connect(url);
  try {
    const r = await client.query(`SELECT seq, hash FROM ${HEAD_TABLE} WHERE id`).catch((cause: unknown) => {
      throw unreadable(url, cause);
    });
    const row = r.rows[0];
    if (!row) throw new PortcullisError('tampered', `the evidence head row is missing from ${HEAD_TABLE} in ${describeStateUrl(url)}: the chain's end cannot be checked`);
    return { seq: Number(row.seq), hash: String(row.hash) };
  } finally {
    await client.end().catch(() => undefined);
  }
}
