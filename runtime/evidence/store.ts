/**
 * The file-backed evidence store: an append-only hash-chained JSON-lines log with signed checkpoints.
 *
 * "Audit before action": `append` resolves only after the record is on disk (write + fdatasync). To
 * keep that cheap under load, appends are group-committed: everything queued while the previous
 * batch was being written goes out as one write and one fsync. Seq and hash are assigned when a batch
 * is written, not when `append` is called, so a failed batch leaves no hole in the chain.
 */
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PortcullisError } from '../errors.ts';
import { canonical, type CanonicalFragment } from '../encoding/canonical.ts';
import { crc32 } from 'node:zlib';
import { ChainChecker } from './chain.ts';
import { ensureDevSigningKey, loadSigningKey, signMessage, type SigningKey } from './keys.ts';
import { acquireLock } from './lock.ts';
import { mergeRefs } from './refs.ts';
import { openLogFile, syncDirectory, type LogFile, type OpenLogFile } from './log-file.ts';
import { CHECKPOINT, checkpointMessage, compactLine, FACT, GENESIS, KEY_ROTATED, parseRecord, SEAL, sealBatchBytes, sealRecord, type EvidenceRecord, type LogRecord } from './record.ts';
import { GroupCommit, type Pending } from './group-commit.ts';
import { DEFAULT_JOURNAL_BYTES, EvidenceJournal, journalPath, type OpenJournalFile } from './journal.ts';
import { FileHeadWitness, lastWitnessedHead, type WitnessedHead } from './witness.ts';

/**
 * The parts of a record a v2 store writes by reference (see record.ts). Readers give back the same
 * logical records as if they had been written whole: `refs` members set in data, `results` as
 * `result` records just before this one.
 */
export interface CompactParts {
  /** dot-separated member path in data -> its value, written once per log as a fact and referenced */
  refs?: Record<string, CanonicalFragment>;
  /** canonical JSON of the data of `result` records folded into this one */
  results?: readonly string[];
}

/** What the gateway needs from any evidence backend (a PostgreSQL one can implement the same). */
export interface EvidenceStore {
  /**
   * true when the store writes format v2 and takes CompactParts; callers of a store without it
   * write whole records (the PostgreSQL store stays on format v1)
   */
  readonly compact?: boolean;
  /** resolves once the record is durable; rejects `failed_precondition` when it cannot be made so */
  append(type: string, data: unknown, parts?: CompactParts): Promise<{ seq: number; hash: string }>;
  /**
   * Two stages of one append: `written` once the record is in the operating system (it survives the
   * gateway process dying), `durable` once it is on disk. Stores without the distinction omit it.
   */
  appendStaged?(type: string, data: unknown, parts?: CompactParts): StagedAppend;
  /** false after a failed write until a later write succeeds: the gateway refuses requests meanwhile */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface FileEvidenceStoreOptions {
  /**
   * 2 (default): one hash per batch (a seal), facts written once and referenced; 1: a hash per
   * record, as logs written before v2 (kept for comparison and tests; verify reads both)
   */
  format?: 1 | 2;
  /**
   * fsync (default): `append` resolves once the record is on disk (fdatasync).
   * write: once the operating system has it — it survives the gateway process dying (SIGKILL), and
   * an fdatasync follows at once in the background, so a host crash can lose the last few ms.
   */
  durability?: 'fsync' | 'write';
  /**
   * PEM Ed25519 private key; default: a dev key generated in the evidence directory (library use and
   * tests only: the gateway passes one kept outside it, see state/evidence.ts)
   */
  signingKeyFile?: string;
  /**
   * the head witness: an append-only file outside the evidence directory that receives every
   * checkpoint's head once it is durable (see witness.ts); the gateway always gives one
   */
  witnessFile?: string;
  /** sign the head after this many records; default 1000 */
  checkpointEvery?: number;
  /** sign the head when records have waited this long unsigned; default 1000 ms */
  checkpointIntervalMs?: number;
  /** extra time to gather a batch before writing; default 0 (batch what arrived in the same tick) */
  groupCommitWindowMs?: number;
  /**
   * size of `evidence.journal`, the file batches are flushed through in fsync mode (see journal.ts);
   * default 16 MiB; 0 flushes `evidence.jsonl` itself after every batch
   */
  journalBytes?: number;
  /** for fault-injection tests */
  openFile?: OpenLogFile;
  openJournal?: OpenJournalFile;
}

export const EVIDENCE_FILE = 'evidence.jsonl';
export const RECOVERED = 'evidence.recovered';

export function evidenceLogPath(dir: string): string {
  return join(dir, EVIDENCE_FILE);
}

export interface StagedAppend {
  written: Promise<{ seq: number; hash: string }>;
  durable: Promise<{ seq: number; hash: string }>;
}

/** How far back resume reads looking for the last checkpoint before it gives up and trusts the tail. */
const MAX_TAIL_SCAN = 64 << 20;
const TAIL_CHUNK = 1 << 16;
/** fdatasyncs that may run at once; more adds little and costs CPU on small machines */
const MAX_FLUSHES_IN_FLIGHT = 3;
/** bytes kept free after a v2 batch's records for its seal and a checkpoint (plus 8 per record) */
const TAIL_ROOM = 1024;
/** distinct facts remembered as written; past it the table starts over (facts are written again) */
const MAX_FACTS = 16384;

/** Filesystem errors that mean "cannot write here right now", as opposed to a bug or tampering. */
function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e?.code ? `${e.code}${e.path ? ` ${e.path}` : ''}` : error instanceof Error ? error.message : String(error);
}

export class FileEvidenceStore implements EvidenceStore {
  readonly dir: string;
  readonly path: string;
  readonly compact: boolean;
  private readonly opts: Required<Omit<FileEvidenceStoreOptions, 'signingKeyFile' | 'openJournal' | 'witnessFile'>> & { signingKeyFile?: string; openJournal?: OpenJournalFile; witnessFile?: string };
  private witness: FileHeadWitness | undefined;
  /** the log's last checkpoint found at attach: its key decides whether a key.rotated record is due */
  private resumedCheckpoint: EvidenceRecord | undefined;
  private file: LogFile | undefined;
  /** fsync durability only: where batches are flushed (the log itself is flushed behind them) */
  private journal: EvidenceJournal | undefined;
  /** a batch failed: the journal's unacknowledged frames are wiped before the log is reattached */
  private journalDirty = false;
  private key: SigningKey | undefined;
  private seq = 0;
  private headHash = GENESIS;
  /** bytes known durable; a failed batch is cut back to this */
  private size = 0;
  /** records written since the last checkpoint record (written, not necessarily flushed yet) */
  private sinceCheckpoint = 0;
  /** the chain's head and the file's size after the last write; seq/headHash/size are the durable ones */
  private written = { seq: 0, hash: GENESIS, size: 0 };
  /** the last batch's settlement: true once it and everything before it is durable */
  private flushed: Promise<boolean> = Promise.resolve(true);
  private readonly inFlight: Promise<boolean>[] = [];
  /** bumped by every failure: flushes of batches written before it cannot acknowledge */
  private epoch = 0;
  /** the file being cut back after a failure; reopening waits for it */
  private detaching: Promise<void> = Promise.resolve();
  /** the record of a recovered partial line is written and waits for its flush */
  private recoveredWritten = false;
  private lastCheckpointAt = Date.now();
  private readonly commits: GroupCommit;
  private recoveredBytes = 0;
  /** v2: fact JSON -> seq of the record that holds it, for facts written (not necessarily durable yet) */
  private facts = new Map<string, number>();
  private ok = true;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private unlock: (() => Promise<void>) | undefined;

  private constructor(dir: string, opts: FileEvidenceStoreOptions) {
    this.dir = dir;
    this.path = evidenceLogPath(dir);
    this.opts = {
      format: opts.format ?? 2,
      checkpointEvery: opts.checkpointEvery ?? 1000,
      checkpointIntervalMs: opts.checkpointIntervalMs ?? 1000,
      groupCommitWindowMs: opts.groupCommitWindowMs ?? 0,
      durability: opts.durability ?? 'fsync',
      journalBytes: opts.journalBytes ?? DEFAULT_JOURNAL_BYTES,
      openFile: opts.openFile ?? openLogFile,
      ...(opts.signingKeyFile !== undefined ? { signingKeyFile: opts.signingKeyFile } : {}),
      ...(opts.openJournal !== undefined ? { openJournal: opts.openJournal } : {}),
      ...(opts.witnessFile !== undefined ? { witnessFile: opts.witnessFile } : {}),
    };
    this.compact = this.opts.format === 2;
    this.commits = new GroupCommit({ windowMs: this.opts.groupCommitWindowMs, write: (batch) => this.writeBatch(batch), healthy: () => this.ok });
  }

  /**
   * Opens (or creates) the log and resumes its chain. A log whose tail fails verification refuses to
   * open (`tampered`): appending to it would sign over the damage. An unwritable directory does not:
   * the store starts unhealthy and retries on every append.
   */
  static async open(dir: string, opts: FileEvidenceStoreOptions = {}): Promise<FileEvidenceStore> {
    const store = new FileEvidenceStore(dir, opts);
    if (opts.witnessFile !== undefined) store.witness = await FileHeadWitness.open(opts.witnessFile);
    try {
      await store.attach();
      store.announceKey();
    } catch (error) {
      // Damage, bad configuration and a live second writer are not transient: refuse to start.
      if (PortcullisError.is(error, 'tampered') || PortcullisError.is(error, 'invalid_argument') || (PortcullisError.is(error) && error.details.lockedBy !== undefined)) {
        await store.unlock?.();
        await store.witness?.close();
        throw error;
      }
      store.ok = false;
    }
    store.timer = setInterval(() => store.tick(), Math.max(10, Math.min(store.opts.checkpointIntervalMs, 1000)));
    store.timer.unref();
    return store;
  }

  healthy(): boolean {
    return this.ok && !this.closed;
  }

  /** seq and hash of the last durable record */
  head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.headHash };
  }

  /** the checkpoint verification key, once the store has attached */
  publicKey(): KeyObject | undefined {
    return this.key?.publicKey;
  }

  /** where checkpoint heads are witnessed, and why the witness cannot be written if it cannot */
  witnessStatus(): { path: string; problem?: string } | undefined {
    const problem = this.witness?.problem();
    return this.witness ? { path: this.witness.path, ...(problem ? { problem } : {}) } : undefined;
  }

  /**
   * A log last signed by another key gets a key.rotated record before anything this store signs, so
   * a change of key is part of the chain (verify refuses a change of key no record announces).
   */
  private announceKey(): void {
    const data = this.resumedCheckpoint?.data as { keyId?: unknown } | undefined;
    const key = this.key;
    if (!key || typeof data?.keyId !== 'string' || data.keyId === key.keyId) return;
    void this.commits.add(KEY_ROTATED, canonical({ from: data.keyId, to: key.keyId }), undefined).catch(() => undefined);
  }

  appendStaged(type: string, data: unknown, parts?: CompactParts): StagedAppend {
    let onWritten!: (v: { seq: number; hash: string }) => void;
    let failWritten!: (e: unknown) => void;
    const written = new Promise<{ seq: number; hash: string }>((resolve, reject) => {
      onWritten = resolve;
      failWritten = reject;
    });
    const durable = this.enqueue(type, data, onWritten, parts);
    durable.catch(failWritten);
    // Nobody may be listening to one stage; an unobserved rejection must not crash the process.
    written.catch(() => undefined);
    return { written, durable };
  }

  append(type: string, data: unknown, parts?: CompactParts): Promise<{ seq: number; hash: string }> {
    return this.enqueue(type, data, undefined, parts);
  }

  private enqueue(type: string, data: unknown, written?: (v: { seq: number; hash: string }) => void, parts?: CompactParts): Promise<{ seq: number; hash: string }> {
    if (this.closed) {
      return Promise.reject(new PortcullisError('failed_precondition', 'evidence store is not writable: it is closed'));
    }
    if (typeof type !== 'string' || type.length === 0 || type === CHECKPOINT || type === RECOVERED || type === KEY_ROTATED || type === SEAL || type === FACT) {
      return Promise.reject(new PortcullisError('invalid_argument', `evidence record type ${JSON.stringify(type)} is empty or reserved`));
    }
    let dataJson: string;
    let refs: Record<string, CanonicalFragment> | undefined;
    let res: string | undefined;
    try {
      if (parts?.refs || parts?.results) {
        // A v1 log holds whole records: the parts go back where they belong.
        if (!this.compact) return this.enqueueWhole(type, data, written, parts);
        // Fragments are immutable; the map is the caller's and must not change after the call.
        refs = parts.refs;
        if (parts.results && parts.results.length > 0) res = `[${parts.results.join(',')}]`;
      }
      // Encoded now so a caller mutating `data` afterwards cannot change what gets hashed.
      dataJson = canonical(data);
    } catch (error) {
      return Promise.reject(PortcullisError.from(error, 'invalid_argument'));
    }
    return this.commits.add(type, dataJson, written, refs, res);
  }

  /** Format v1: results as records of their own first, then the record with its refs in place. */
  private enqueueWhole(type: string, data: unknown, written: ((v: { seq: number; hash: string }) => void) | undefined, parts: CompactParts): Promise<{ seq: number; hash: string }> {
    for (const r of parts.results ?? []) void this.commits.add('result', r).catch(() => undefined);
    return this.commits.add(type, canonical(mergeRefs(data, parts.refs)), written);
  }

  /** Signs the head now (if anything is unsigned) and waits for it to be durable. */
  async checkpoint(): Promise<void> {
    this.commits.requestCheckpoint();
    await this.commits.idle();
    await this.drainFlushes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    // A cleanly closed log ends in a checkpoint, so `verify --require-signed-tail` can tell a cut tail.
    await this.checkpoint().catch(() => undefined);
    this.closed = true;
    await this.commits.idle();
    await this.drainFlushes();
    // The journal first: it waits for a background flush of the log still running.
    await this.journal?.close().catch(() => undefined);
    this.journal = undefined;
    const file = this.file;
    this.file = undefined;
    // Acknowledged records may be durable only in the journal (or, with durability 'write', not yet
    // at all): the log itself must be before closing.
    await file?.sync().catch(() => undefined);
    await file?.close().catch(() => undefined);
    await this.witness?.close();
    await this.unlock?.();
    this.unlock = undefined;
  }

  private tick(): void {
    this.journal?.flushLogIfBehind();
    if (this.sinceCheckpoint > 0 && Date.now() - this.lastCheckpointAt >= this.opts.checkpointIntervalMs) {
      this.commits.requestCheckpoint();
    }
  }

  /**
   * Writes a batch and starts its flush without waiting for the flushes before it: fdatasync calls
   * overlap (the disk serves them together), so a statement arriving during a flush gets a flush of
   * its own at once instead of waiting for the running one to end first. A batch is acknowledged
   * once its own flush and every earlier batch's have succeeded; when one fails, it and every batch
   * written after it are refused and cut from the file.
   */
  private async writeBatch(batch: Pending[]): Promise<void> {
    const wantCheckpoint = this.commits.takeCheckpoint();
    let carriedRecovered = false;
    try {
      if (!this.file) {
        await this.detaching;
        await this.attach();
      }
      const file = this.file as LogFile;
      const key = this.key as SigningKey;
      const now = new Date();
      const firstSeq = this.written.seq + 1;
      const lines: string[] = [];
      /** v2: the batch's record lines already encoded (the seal and any checkpoint follow in `lines`) */
      let records: Buffer | undefined;
      let recordsLength = 0;
      let recordLines = 0;
      const acks: { seq: number; hash: string }[] = [];
      // The batch's lines and chain head, with methods rather than closures made per batch (tsx
      // keeps function names: each named closure costs a defineProperty).
      const b = new BatchLines(this.written.seq, this.written.hash, lines);
      if (this.recoveredBytes > 0 && !this.recoveredWritten) carriedRecovered = true;
      if (this.compact) {
        // v2: the batch's records, then one seal whose hash covers them all.
        const from = b.seq + 1;
        if (carriedRecovered) b.put(RECOVERED, now.toISOString(), canonical({ droppedBytes: this.recoveredBytes, reason: 'incomplete last line (interrupted write)' }));
        for (const p of batch) {
          let refsJson: string | undefined;
          if (p.refs) {
            refsJson = '{';
            for (const path in p.refs) {
              const json = (p.refs[path] as { json: string }).json;
              let at = this.facts.get(json);
              if (at === undefined) {
                if (this.facts.size >= MAX_FACTS) this.facts.clear();
                at = b.put(FACT, p.ts, `{"value":${json}}`);
                this.facts.set(json, at);
              }
              refsJson += `${refsJson.length > 1 ? ',' : ''}${JSON.stringify(path)}:${at}`;
            }
            refsJson += '}';
          }
          acks.push({ seq: b.put(p.type, p.ts, p.dataJson, refsJson, p.res), hash: '' });
        }
        if (lines.length > 0) {
          // Encoded to bytes once, into the buffer that is written: the CRCs and the seal's hash read
          // it, and the seal (and a checkpoint) are written after it in place, without a copy.
          const text = lines.join('\n');
          const length = Buffer.byteLength(text, 'utf8');
          records = Buffer.allocUnsafe(length + TAIL_ROOM + 8 * lines.length);
          records.write(text, 0, 'utf8');
          recordsLength = length;
          recordLines = lines.length;
          let crcs = '';
          for (let at = 0; at <= length; ) {
            let nl = records.indexOf(10, at);
            if (nl === -1 || nl > length) nl = length;
            crcs += crc32(records.subarray(at, nl)).toString(16).padStart(8, '0');
            at = nl + 1;
          }
          b.seq++;
          const sealed = sealBatchBytes(records.subarray(0, length), b.seq, now.toISOString(), from, crcs, b.prev);
          lines.length = 0;
          lines.push(sealed.line);
          b.prev = sealed.hash;
          for (const a of acks) a.hash = sealed.hash;
        }
      } else {
        if (carriedRecovered) b.add(RECOVERED, now.toISOString(), canonical({ droppedBytes: this.recoveredBytes, reason: 'incomplete last line (interrupted write)' }));
        for (const p of batch) acks.push(b.add(p.type, p.ts, p.dataJson));
      }
      const unsigned = this.sinceCheckpoint + recordLines + lines.length;
      const due = unsigned >= this.opts.checkpointEvery || (unsigned > 0 && (wantCheckpoint || now.getTime() - this.lastCheckpointAt >= this.opts.checkpointIntervalMs));
      let checkpoint: WitnessedHead | undefined;
      if (due) {
        const upTo = b.seq;
        const sig = signMessage(key.privateKey, checkpointMessage(b.seq, b.prev));
        const ts = now.toISOString();
        const cp = b.add(CHECKPOINT, ts, canonical({ upTo: b.seq, head: b.prev, keyId: key.keyId, sig }));
        checkpoint = { seq: cp.seq, hash: cp.hash, ts, upTo, keyId: key.keyId };
      }
      if (lines.length === 0) return;
      let buf: Buffer;
      if (records) {
        const tail = `\n${lines.join('\n')}\n`;
        const tailLength = Buffer.byteLength(tail, 'utf8');
        buf =
          tailLength <= records.length - recordsLength
            ? records.subarray(0, recordsLength + records.write(tail, recordsLength, 'utf8'))
            : Buffer.concat([records.subarray(0, recordsLength), Buffer.from(tail, 'utf8')]);
      } else {
        buf = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
      }
      await file.append(buf);
      this.written = { seq: b.seq, hash: b.prev, size: this.written.size + buf.length };
      if (carriedRecovered) this.recoveredWritten = true;
      this.sinceCheckpoint = due ? 0 : unsigned;
      if (due) this.lastCheckpointAt = now.getTime();
      const head = this.written;
      // Flushed through the journal (a data-only flush); a batch too big for it flushes the log.
      const journalEnd = this.journal ? await this.journal.write(buf, firstSeq, recordLines + lines.length) : undefined;
      const done: CommittedBatch = { head, carriedRecovered, journalEnd, batch, acks, checkpoint, file };
      // Reads may go ahead once their record is written, but only after this batch's flush has been
      // started: forwarding them sends socket writes, which would otherwise delay the flush.
      if (this.opts.durability === 'write') {
        this.syncSoon(file);
        announceWritten(batch, acks);
        this.commit(done);
        return;
      }
      const epoch = this.epoch;
      const before = this.flushed;
      const flush = (journalEnd !== undefined ? (this.journal as EvidenceJournal).sync() : file.sync()).then(
        () => undefined,
        (error: unknown) => error ?? new Error('fdatasync failed'),
      );
      announceWritten(batch, acks);
      const settled = (async (): Promise<boolean> => {
        const error = await flush;
        const earlierOk = await before;
        if (error === undefined && earlierOk && epoch === this.epoch) {
          this.commit(done);
          return true;
        }
        // Only the first failure cuts the file back; later batches were written on top of it.
        if (epoch === this.epoch) await this.fail(wantCheckpoint);
        this.reject(batch, error ?? new Error('an earlier evidence batch could not be made durable'));
        return false;
      })();
      this.flushed = settled;
      this.inFlight.push(settled);
      void settled.finally(() => this.inFlight.splice(this.inFlight.indexOf(settled), 1));
      // Bounded overlap: past the limit, the next batch waits for the oldest flush.
      while (this.inFlight.length >= MAX_FLUSHES_IN_FLIGHT) await this.inFlight[0];
    } catch (error) {
      await this.fail(wantCheckpoint);
      this.reject(batch, error);
    }
  }

  /** A batch is durable: the chain's durable head moves to it and its appends resolve. */
  private commit(c: CommittedBatch): void {
    this.seq = c.head.seq;
    this.headHash = c.head.hash;
    this.size = c.head.size;
    if (c.carriedRecovered) {
      this.recoveredBytes = 0;
      this.recoveredWritten = false;
    }
    this.ok = true;
    if (c.journalEnd !== undefined) this.journal?.acked(c.journalEnd);
    const { batch, acks } = c;
    for (let i = 0; i < batch.length; i++) (batch[i] as Pending).resolve(acks[i] as { seq: number; hash: string });
    // Once per checkpoint, after it is durable, off the append path: the witness never delays a
    // statement, and never gets ahead of what a host crash leaves of the log.
    const cp = c.checkpoint;
    if (cp && this.witness) {
      const w = this.witness;
      if (this.opts.durability === 'write')
        void c.file.sync().then(
          () => w.record(cp),
          () => undefined,
        );
      else void w.record(cp);
    }
  }

  /** A write or flush failed: stop acknowledging, forget the unflushed tail and cut the file back. */
  private async fail(hadCheckpoint: boolean): Promise<void> {
    this.epoch++;
    // Facts written since the last durable batch are cut back with it: write every fact again.
    this.facts.clear();
    this.ok = false;
    this.journalDirty = this.journal !== undefined;
    if (hadCheckpoint) this.commits.retryCheckpoint();
    this.recoveredWritten = false;
    // batches written from now on start a fresh chain of flushes on a reopened file
    this.flushed = Promise.resolve(true);
    this.detaching = this.detach();
    await this.detaching;
  }

  private reject(batch: Pending[], error: unknown): void {
    const failure = PortcullisError.is(error, 'tampered')
      ? error
      : new PortcullisError('failed_precondition', `evidence store is not writable: ${describeFsError(error)} (${this.path})`, {
          cause: error,
          details: { hint: 'check that the evidence directory exists, is writable and its disk is not full; requests are refused until it is' },
        });
    for (const p of batch) p.reject(failure);
  }

  /** Every batch written so far is durable (or failed). */
  private async drainFlushes(): Promise<void> {
    while (this.inFlight.length > 0) await Promise.allSettled([...this.inFlight]);
  }

  private syncing = false;
  private dirty = false;

  /** durability 'write': flush to disk right behind the writes, one fdatasync at a time. */
  private syncSoon(file: LogFile): void {
    this.dirty = true;
    if (this.syncing) return;
    this.syncing = true;
    void (async () => {
      try {
        while (this.dirty && this.file === file) {
          this.dirty = false;
          await file.sync();
        }
      } catch (error) {
        // The disk refused what the OS accepted: stop acknowledging until a write and sync succeed.
        this.ok = false;
        this.dirty = true;
        void error;
      } finally {
        this.syncing = false;
      }
    })();
  }

  /** After a failed write the page cache state is unknown (fsync errors are sticky): cut back, reopen later. */
  private async detach(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await file.truncate(this.size).catch(() => undefined);
    await file.close().catch(() => undefined);
  }

  /** Opens the file, reads and verifies the tail, and positions the chain after its last record. */
  private async attach(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.unlock ??= await acquireLock(this.dir);
    this.key ??= this.opts.signingKeyFile ? await loadSigningKey(this.opts.signingKeyFile) : await ensureDevSigningKey(this.dir);
    const file = await this.opts.openFile(this.path);
    try {
      const size = await file.size();
      const tail = await readTail(file, size);
      const state = this.checkTail(tail.lines);
      // Only an intact log loses its unterminated last line, and v2 records no seal covers: that
      // write was never acknowledged (unless the journal holds it, and then it comes back whole below).
      const cut = tail.partialBytes + state.unsealedBytes;
      if (cut > 0) await file.truncate(size - cut);
      let logSize = size - cut;
      let head = state;
      const journalOptions = {
        bytes: this.opts.journalBytes,
        // Never "done" without a flush: a frame is overwritten only once the log holds it durably.
        syncLog: () => (this.file ? this.file.sync() : Promise.reject(new Error('evidence.jsonl is not open'))),
        ...(this.opts.openJournal ? { openFile: this.opts.openJournal } : {}),
      };
      if (this.opts.durability === 'fsync' && this.opts.journalBytes > 0) this.journal ??= await EvidenceJournal.open(this.dir, journalOptions);
      // A journal left by an earlier run in another mode still holds acknowledged records: restore
      // them even when this run does not flush through it.
      const recoverFrom = this.journal ?? (existsSync(journalPath(this.dir)) ? await EvidenceJournal.open(this.dir, journalOptions) : undefined);
      if (recoverFrom) {
        if (this.journalDirty && recoverFrom === this.journal) {
          await recoverFrom.discardUnacked();
          this.journalDirty = false;
        }
        const restored = await this.restoreFromJournal(recoverFrom, state);
        if (restored.bytes.length > 0) {
          await file.append(restored.bytes);
          logSize += restored.bytes.length;
          head = { ...restored.head, unsealedBytes: 0 };
          for (const line of restored.bytes.toString('utf8').split('\n')) {
            const r = line.includes(`"type":"${CHECKPOINT}"`) ? parseRecord(line) : undefined;
            if (r?.type === CHECKPOINT) this.resumedCheckpoint = r;
          }
        }
      }
      await this.checkWitness(head);
      // The journal forgets its frames below, so whatever it restored must be durable in the log first.
      if (size === 0 || cut > 0 || recoverFrom) await file.sync().then(() => syncDirectory(this.dir));
      if (recoverFrom && recoverFrom !== this.journal) {
        // Nothing in it is needed any more, and this run will not keep it up to date.
        await recoverFrom.close();
        await unlink(journalPath(this.dir)).catch(() => undefined);
      }
      this.journal?.reset();
      this.file = file;
      this.size = logSize;
      this.seq = head.seq;
      this.headHash = head.hash;
      this.written = { seq: head.seq, hash: head.hash, size: this.size };
      this.sinceCheckpoint = head.sinceCheckpoint;
      this.recoveredBytes += cut;
    } catch (error) {
      await file.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The records the journal holds past the log's end (acknowledged, then lost from the log's page
   * cache in a crash), as long as each continues the chain: the journal never overrides the log.
   */
  private async restoreFromJournal(
    journal: EvidenceJournal,
    state: { seq: number; hash: string; sinceCheckpoint: number },
  ): Promise<{ bytes: Buffer; head: { seq: number; hash: string; sinceCheckpoint: number } }> {
    const checker = new ChainChecker({ start: { seq: state.seq, hash: state.hash } });
    const lines = await journal.recover(checker);
    const sinceCheckpoint = checker.checkpoints > 0 ? checker.sinceCheckpoint : state.sinceCheckpoint + checker.sinceCheckpoint;
    return {
      bytes: lines.length > 0 ? Buffer.from(`${lines.join('\n')}\n`, 'utf8') : Buffer.alloc(0),
      head: { seq: checker.sealedHead().seq, hash: checker.head, sinceCheckpoint },
    };
  }

  private checkTail(lines: string[]): { seq: number; hash: string; sinceCheckpoint: number; unsealedBytes: number } {
    let records: LogRecord[] = [];
    for (const line of lines) {
      const record = parseRecord(line);
      if (!record) throw this.tampered(`a line near the end is not a valid record`);
      records.push(record);
    }
    // A tail read from the middle of a log without checkpoints may start inside a v2 batch: it is
    // checked from the first chained record on, which it trusts.
    let skipped = 0;
    if (records[0] && !records[0].chained && records[0].seq !== 1) {
      skipped = records.findIndex((r) => r.chained);
      if (skipped === -1) throw this.tampered('no seal near the end of the log');
      const trusted = records[skipped] as LogRecord;
      records = records.slice(skipped);
      lines = lines.slice(skipped);
      if (trusted.type !== CHECKPOINT) {
        records = records.slice(1);
        lines = lines.slice(1);
        return this.checkFrom(records, lines, { seq: trusted.seq, hash: trusted.hash });
      }
    }
    return this.checkFrom(records, lines);
  }

  private checkFrom(records: LogRecord[], lines: string[], start?: { seq: number; hash: string }): { seq: number; hash: string; sinceCheckpoint: number; unsealedBytes: number } {
    const [first] = records;
    if (!first) return { seq: start?.seq ?? 0, hash: start?.hash ?? GENESIS, sinceCheckpoint: 0, unsealedBytes: 0 };
    if (first.type === CHECKPOINT) this.resumedCheckpoint = first;
    const ownKey = this.key as SigningKey;
    // Resume verifies from the last checkpoint on; a checkpoint by another (rotated) key is not
    // checked here, `portcullis evidence verify` with that key does.
    const signedByUs = first.type === CHECKPOINT && (first.data as { keyId?: unknown })?.keyId === ownKey.keyId;
    const checker = new ChainChecker({
      ...(signedByUs ? { publicKey: ownKey.publicKey, keyId: ownKey.keyId } : {}),
      start: start ?? (first.chained ? { seq: first.seq - 1, hash: first.prev } : { seq: 0, hash: GENESIS }),
    });
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as LogRecord;
      const problem = checker.push(record, lines[i]);
      if (problem === 'seq-mismatch') throw this.tampered(checker.seqProblem(record.seq, false).message);
      if (problem) throw this.tampered(problem.message);
    }
    // v2 records no seal covers end the log: their batch's write was cut short, never acknowledged.
    let unsealedBytes = 0;
    for (let i = lines.length - checker.pendingCount(); i < lines.length; i++) unsealedBytes += Buffer.byteLength(lines[i] as string, 'utf8') + 1;
    return { ...checker.sealedHead(), sinceCheckpoint: checker.sinceCheckpoint, unsealedBytes };
  }

  /**
   * The log must reach every head the witness saw, with the same hash: a shorter log was cut, a
   * different one rewritten, and appending to it would bury the damage under new checkpoints. A
   * witness that saw nothing yet (new, or added to an existing log) starts from the log's last
   * checkpoint.
   */
  private async checkWitness(head: { seq: number; hash: string }): Promise<void> {
    if (!this.witness) return;
    const seen = await lastWitnessedHead(this.witness.path);
    const cp = this.resumedCheckpoint;
    if (!seen) {
      const data = cp?.data as { upTo?: number; keyId?: string } | undefined;
      if (cp) await this.witness.record({ seq: cp.seq, hash: cp.hash, ts: cp.ts, upTo: Number(data?.upTo ?? cp.seq - 1), keyId: String(data?.keyId ?? '') });
      return;
    }
    if (seen.seq > head.seq) {
      throw this.tampered(
        `records ${head.seq + 1}..${seen.seq} are missing: the witness ${this.witness.path} saw the chain reach record ${seen.seq} at ${seen.ts}, the log ends at record ${head.seq}`,
      );
    }
    const known = seen.seq === head.seq ? head.hash : cp?.seq === seen.seq ? cp.hash : undefined;
    if (known !== undefined && known !== seen.hash) {
      throw this.tampered(`record ${seen.seq} differs from the checkpoint the witness ${this.witness.path} saw at ${seen.ts}: the log was rewritten`);
    }
  }

  private tampered(message: string): PortcullisError {
    return new PortcullisError('tampered', `evidence log ${this.path} fails verification: ${message}`, {
      details: { hint: 'run `portcullis evidence verify` and investigate before starting the gateway; never append to a damaged log' },
    });
  }
}

/**
 * Reads backwards from the end until the last checkpoint record (or the start, or MAX_TAIL_SCAN),
 * returning the complete lines from that checkpoint on and the size of an unterminated last line.
 */
async function readTail(file: LogFile, size: number): Promise<{ lines: string[]; partialBytes: number }> {
  if (size === 0) return { lines: [], partialBytes: 0 };
  let pos = size;
  let buf = Buffer.alloc(0);
  let partialBytes = -1;
  while (pos > 0 && size - pos < MAX_TAIL_SCAN) {
    const len = Math.min(TAIL_CHUNK, pos);
    pos -= len;
    buf = Buffer.concat([await file.read(pos, len), buf]);
    if (partialBytes < 0) {
      const lastNl = buf.lastIndexOf(10);
      if (lastNl === -1 && pos > 0) continue;
      partialBytes = buf.length - (lastNl + 1);
    }
    const body = buf.subarray(0, buf.length - partialBytes);
    // Lines wholly inside the buffer: skip the first (possibly cut) segment unless at the file start.
    const firstNl = pos === 0 ? -1 : body.indexOf(10);
    if (firstNl === -1 && pos > 0) continue;
    const complete = body
      .toString('utf8', firstNl + 1)
      .split('\n')
      .slice(0, -1);
    const cp = findLastIndex(complete, (l) => l.includes(`"type":"${CHECKPOINT}"`) && parseRecord(l)?.type === CHECKPOINT);
    if (cp !== -1 || pos === 0 || size - pos >= MAX_TAIL_SCAN) {
      return { lines: cp === -1 ? complete : complete.slice(cp), partialBytes: Math.max(0, partialBytes) };
    }
  }
  const body = buf.subarray(0, buf.length - Math.max(0, partialBytes));
  const firstNl = pos === 0 ? -1 : body.indexOf(10);
  return {
    lines: body
      .toString('utf8', firstNl + 1)
      .split('\n')
      .slice(0, -1),
    partialBytes: Math.max(0, partialBytes),
  };
}

function findLastIndex<T>(items: T[], pred: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i] as T)) return i;
  return -1;
}

/** What a written batch needs once it is durable (see FileEvidenceStore.commit). */
interface CommittedBatch {
  head: { seq: number; hash: string; size: number };
  carriedRecovered: boolean;
  journalEnd: number | undefined;
  batch: Pending[];
  acks: { seq: number; hash: string }[];
  checkpoint: WitnessedHead | undefined;
  file: LogFile;
}

/** One batch's lines as they are written, and the chain's head after the last of them. */
class BatchLines {
  constructor(
    public seq: number,
    public prev: string,
    private readonly lines: string[],
  ) {}

  /** v1: a record sealed on its own (and a checkpoint, in either format) */
  add(type: string, ts: string, dataJson: string): { seq: number; hash: string } {
    this.seq++;
    const sealed = sealRecord(this.seq, ts, type, dataJson, this.prev);
    this.lines.push(sealed.line);
    this.prev = sealed.hash;
    return { seq: this.seq, hash: sealed.hash };
  }

  /** v2: a record the batch's seal covers */
  put(type: string, ts: string, dataJson: string, refsJson?: string, resJson?: string): number {
    this.seq++;
    this.lines.push(compactLine(this.seq, ts, type, dataJson, refsJson, resJson));
    return this.seq;
  }
}

/** Reads may go ahead once their record is written (staged appends). */
function announceWritten(batch: readonly Pending[], acks: readonly { seq: number; hash: string }[]): void {
  for (let i = 0; i < batch.length; i++) (batch[i] as Pending).written?.(acks[i] as { seq: number; hash: string });
}
