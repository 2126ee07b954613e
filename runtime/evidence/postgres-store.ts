/**
 * The evidence store for several gateway replicas: one hash chain in a PostgreSQL state database.
 *
 * Each replica group-commits like the file store (everything queued while the previous batch was
 * in flight goes out as one transaction), but seq and prev come from the shared head row, locked
 * `FOR UPDATE` for the batch, so replicas interleave into ONE chain instead of forking it. A batch
 * commits with synchronous_commit on before any of its `append`s resolve: audit before action.
 *
 * Every record is stamped with the replica that wrote it in a column that the record's hash covers
 * (so it is as tamper-evident as the rest), and inside plain-object data (so readers see it there).
 */
import type { KeyObject } from 'node:crypto';
import pg from 'pg';
import { PortcullisError } from '../errors.ts';
import { canonical } from '../encoding/canonical.ts';
import { loadSigningKey, signMessage, type SigningKey } from './keys.ts';
import { CHECKPOINT, checkpointMessage, GENESIS, sealRecord } from './record.ts';
import type { EvidenceStore } from './store.ts';
import { ensureEvidenceSchema, EVIDENCE_TABLE, HEAD_TABLE } from './postgres-schema.ts';
import { describeStateUrl, isConfigurationError } from './postgres-url.ts';
import { GroupCommit, type Pending } from './group-commit.ts';
import { FileHeadWitness, type WitnessedHead } from './witness.ts';

export interface PostgresEvidenceStoreOptions {
  /** postgres://user:password@host:port/database of the state database */
  url: string;
  /** stamped on every record this process writes; must differ between live replicas */
  replica: string;
  /** the checkpoint signing key (every replica of a chain should share one) */
  signingKey: SigningKey | { file: string };
  /** sign the head after this many records (all replicas together); default 1000 */
  checkpointEvery?: number;
  /** sign the head when records have waited this long unsigned; default 1000 ms */
  checkpointIntervalMs?: number;
  /** extra time to gather a batch before writing; default 0 (batch what arrived in the same tick) */
  groupCommitWindowMs?: number;
  /** connect, statement and lock-wait limit; a batch that takes longer fails (closed); default 5000 ms */
  timeoutMs?: number;
  /** the head witness file this replica appends the heads of its own checkpoints to (see witness.ts) */
  witnessFile?: string;
}

interface Head {
  seq: number;
  hash: string;
  sinceCheckpoint: number;
  checkpointAtMs: number;
}

export class PostgresEvidenceStore implements EvidenceStore {
  readonly replica: string;
  /** host:port/database, for messages (never the password) */
  readonly where: string;
  private readonly url: string;
  private readonly opts: Required<Omit<PostgresEvidenceStoreOptions, 'url' | 'replica' | 'signingKey' | 'witnessFile'>>;
  private witness: FileHeadWitness | undefined;
  private key: SigningKey | undefined;
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private schemaReady = false;
  private readonly commits: GroupCommit;
  /** what this replica last saw of the head: enough to know whether its own records await a signature */
  private seen: Head = { seq: 0, hash: GENESIS, sinceCheckpoint: 0, checkpointAtMs: Date.now() };
  private ok = true;
  private problem: string | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  private constructor(opts: PostgresEvidenceStoreOptions, key: SigningKey) {
    this.url = opts.url;
    this.replica = opts.replica;
    this.where = describeStateUrl(opts.url);
    this.key = key;
    this.opts = {
      checkpointEvery: opts.checkpointEvery ?? 1000,
      checkpointIntervalMs: opts.checkpointIntervalMs ?? 1000,
      groupCommitWindowMs: opts.groupCommitWindowMs ?? 0,
      timeoutMs: opts.timeoutMs ?? 5000,
    };
    this.commits = new GroupCommit({ windowMs: this.opts.groupCommitWindowMs, write: (batch) => this.writeBatch(batch), healthy: () => this.ok });
  }

  /**
   * Connects and creates the tables if needed. An unreachable database does not stop the gateway
   * from starting: the store starts unhealthy (requests are refused) and retries on every append.
   * A wrong password, a missing database or missing privileges are configuration: they throw.
   */
  static async open(opts: PostgresEvidenceStoreOptions): Promise<PostgresEvidenceStore> {
    if (!opts.replica) throw new PortcullisError('invalid_argument', 'the evidence store needs a replica name');
    describeStateUrl(opts.url); // throws invalid_argument on a malformed URL
    const key = 'file' in opts.signingKey ? await loadSigningKey(opts.signingKey.file) : opts.signingKey;
    const store = new PostgresEvidenceStore(opts, key);
    if (opts.witnessFile !== undefined) store.witness = await FileHeadWitness.open(opts.witnessFile);
    try {
      await store.connection();
      store.seen = await store.readHead();
    } catch (error) {
      if (isConfigurationError(error)) {
        await store.close();
        await store.witness?.close();
        throw new PortcullisError('failed_precondition', `cannot use the evidence state database ${store.where}: ${(error as Error).message}`, {
          cause: error,
          details: { hint: 'check --state: its user, password, database and that the user may create tables there' },
        });
      }
      store.markDown(error);
    }
    store.timer = setInterval(() => store.tick(), Math.max(10, Math.min(store.opts.checkpointIntervalMs, 1000)));
    store.timer.unref();
    return store;
  }

  healthy(): boolean {
    return this.ok && !this.closed;
  }

  /** why the store is unhealthy, for the gateway's status */
  lastError(): string | undefined {
    return this.ok ? undefined : this.problem;
  }

  /** the head as this replica last saw it (other replicas may have appended since) */
  head(): { seq: number; hash: string } {
    return { seq: this.seen.seq, hash: this.seen.hash };
  }

  publicKey(): KeyObject | undefined {
    return this.key?.publicKey;
  }

  /** where this replica's checkpoint heads are witnessed, and why the witness cannot be written if it cannot */
  witnessStatus(): { path: string; problem?: string } | undefined {
    const problem = this.witness?.problem();
    return this.witness ? { path: this.witness.path, ...(problem ? { problem } : {}) } : undefined;
  }

  append(type: string, data: unknown): Promise<{ seq: number; hash: string }> {
    if (this.closed) {
      return Promise.reject(new PortcullisError('failed_precondition', 'evidence store is not writable: it is closed'));
    }
    if (typeof type !== 'string' || type.length === 0 || type === CHECKPOINT) {
      return Promise.reject(new PortcullisError('invalid_argument', `evidence record type ${JSON.stringify(type)} is empty or reserved`));
    }
    let dataJson: string;
    try {
      dataJson = canonical(this.stamp(data));
    } catch (error) {
      return Promise.reject(PortcullisError.from(error, 'invalid_argument'));
    }
    return this.commits.add(type, dataJson);
  }

  /** Signs the head now if anything is unsigned, and waits until that is durable. */
  async checkpoint(): Promise<void> {
    this.commits.requestCheckpoint();
    await this.commits.idle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    if (this.client || this.connecting) await this.checkpoint().catch(() => undefined);
    this.closed = true;
    await this.commits.idle();
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.witness?.close();
  }

  /** Plain-object data carries the replica inside the hash; other shapes are left as they are. */
  private stamp(data: unknown): unknown {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
    const proto = Object.getPrototypeOf(data);
    if ((proto !== Object.prototype && proto !== null) || 'replica' in data) return data;
    return { ...data, replica: this.replica };
  }

  private tick(): void {
    if (this.ok && this.seen.sinceCheckpoint > 0 && Date.now() - this.seen.checkpointAtMs >= this.opts.checkpointIntervalMs) {
      this.commits.requestCheckpoint();
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const wantCheckpoint = this.commits.takeCheckpoint();
    let client: pg.Client | undefined;
    try {
      client = await this.connection();
      const locked = await client.query(`BEGIN; SELECT seq, hash, since_checkpoint, checkpoint_at_ms FROM ${HEAD_TABLE} WHERE id FOR UPDATE`);
      const head = toHead((locked as unknown as pg.QueryResult[])[1]?.rows[0]);
      const now = Date.now();
      const rows = { seq: [] as number[], ts: [] as string[], type: [] as string[], data: [] as string[], prev: [] as string[], hash: [] as string[] };
      const acks: { seq: number; hash: string }[] = [];
      let seq = head.seq;
      let prev = head.hash;
      const add = (type: string, ts: string, dataJson: string) => {
        seq++;
        const { hash } = sealRecord(seq, ts, type, dataJson, prev, this.replica);
        rows.seq.push(seq);
        rows.ts.push(ts);
        rows.type.push(type);
        rows.data.push(dataJson);
        rows.prev.push(prev);
        rows.hash.push(hash);
        prev = hash;
        return { seq, hash };
      };
      for (const p of batch) acks.push(add(p.type, p.ts, p.dataJson));
      const unsigned = head.sinceCheckpoint + batch.length;
      const due = unsigned >= this.opts.checkpointEvery || (unsigned > 0 && (wantCheckpoint || now - head.checkpointAtMs >= this.opts.checkpointIntervalMs));
      let checkpoint: WitnessedHead | undefined;
      if (due) {
        const key = this.key as SigningKey;
        const upTo = seq;
        const sig = signMessage(key.privateKey, checkpointMessage(seq, prev));
        const ts = new Date(now).toISOString();
        const cp = add(CHECKPOINT, ts, canonical({ upTo: seq, head: prev, keyId: key.keyId, sig, replica: this.replica }));
        checkpoint = { seq: cp.seq, hash: cp.hash, ts, upTo, keyId: key.keyId };
      }
      const next: Head = { seq, hash: prev, sinceCheckpoint: due ? 0 : unsigned, checkpointAtMs: due ? now : head.checkpointAtMs };
      if (rows.seq.length === 0) {
        await client.query('ROLLBACK');
      } else {
        await client.query(
          `WITH ins AS (
             INSERT INTO ${EVIDENCE_TABLE} (seq, ts, type, data, prev, hash, replica)
             SELECT s, t, ty, d, p, h, $7 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::json[], $5::text[], $6::text[]) AS u(s, t, ty, d, p, h)
           )
           UPDATE ${HEAD_TABLE} SET seq = $8, hash = $9, since_checkpoint = $10, checkpoint_at_ms = $11 WHERE id`,
          [rows.seq, rows.ts, rows.type, rows.data, rows.prev, rows.hash, this.replica, next.seq, next.hash, next.sinceCheckpoint, next.checkpointAtMs],
        );
        await client.query('COMMIT');
      }
      this.seen = next;
      this.ok = true;
      this.problem = undefined;
      batch.forEach((p, i) => p.resolve(acks[i] as { seq: number; hash: string }));
      // Once per checkpoint, after its commit, off the append path.
      if (checkpoint) void this.witness?.record(checkpoint);
    } catch (error) {
      // Whatever state the connection is in (mid-transaction, timed out, gone), it is not reused:
      // the server rolls back an uncommitted batch when the session ends, and a fresh one starts clean.
      if (client) this.drop(client);
      this.markDown(error);
      if (wantCheckpoint) this.commits.retryCheckpoint();
      const failure = new PortcullisError('failed_precondition', `evidence store is not writable: ${this.problem}`, {
        cause: error,
        details: { hint: 'check that the PostgreSQL state database is up and reachable; requests are refused until evidence can be written' },
      });
      for (const p of batch) p.reject(failure);
    }
  }

  private async readHead(): Promise<Head> {
    const client = await this.connection();
    const r = await client.query(`SELECT seq, hash, since_checkpoint, checkpoint_at_ms FROM ${HEAD_TABLE} WHERE id`);
    return toHead(r.rows[0]);
  }

  /** The one connection of this replica's store; (re)connected lazily after a failure. */
  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const t = this.opts.timeoutMs;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: t,
      // Client-side too: a partitioned network never answers, and a hung append would hang a statement.
      query_timeout: t + 1000,
      keepAlive: true,
      fallback_application_name: `portcullis-evidence:${this.replica}`.slice(0, 63),
      // A replica that dies holding the head lock must not stall the others for long.
      options: `-c synchronous_commit=on -c statement_timeout=${t} -c lock_timeout=${t} -c idle_in_transaction_session_timeout=${2 * t}`,
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection to the state database closed')));
    try {
      await client.connect();
      if (!this.schemaReady) {
        await ensureEvidenceSchema(client);
        this.schemaReady = true;
      }
    } catch (error) {
      this.drop(client);
      throw error;
    }
    if (this.closed) {
      this.drop(client);
      throw new PortcullisError('failed_precondition', 'evidence store is not writable: it is closed');
    }
    this.client = client;
    return client;
  }

  /** The server went away (restart, pg_terminate_backend, network): unhealthy at once, not at the next write. */
  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.drop(client);
    if (!this.closed) this.markDown(error);
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    // Not awaited: on a dead network `end` waits for a goodbye that never comes.
    void client.end().catch(() => undefined);
  }

  private markDown(error: unknown): void {
    this.ok = false;
    const e = error as { code?: string; message?: string };
    this.problem = `${e?.message ?? String(error)}${e?.code ? ` (${e.code})` : ''} (PostgreSQL state database ${this.where})`;
  }
}

function toHead(row: Record<string, unknown> | undefined): Head {
  if (!row) {
    throw new PortcullisError('tampered', `the evidence head row is missing from ${HEAD_TABLE}`, {
      details: { hint: 'run `portcullis evidence verify --state URL` and investigate; never recreate the head by hand' },
    });
  }
  return {
    seq: Number(row.seq),
    hash: String(row.hash),
    sinceCheckpoint: Number(row.since_checkpoint),
    checkpointAtMs: Number(row.checkpoint_at_ms),
  };
}
