/**
 * The evidence journal: how a batch becomes durable without an ext4 journal commit per batch.
 *
 * Flushing an append to `evidence.jsonl` changes the file's size, so every fdatasync also commits
 * filesystem metadata through the kernel's journal thread; on a busy two-core machine that thread
 * waits its turn and a flush takes 0.5-0.8 ms. Overwriting blocks that are already allocated and
 * written changes no metadata, so the flush is data only and about three times faster under load.
 *
 * So each batch is written twice: appended to `evidence.jsonl` (page cache only) and written in
 * place into this fixed-size file, which is flushed before the batch is acknowledged. The log is
 * flushed in the background, and always before the journal overwrites a frame the log may still
 * need. When the store opens, frames the journal holds beyond the log's last record are appended
 * back (`recover`). The journal is never an authority: recovered records must continue the log's
 * hash chain, or they are ignored.
 *
 * A frame starts on a 4 KiB boundary: a 32-byte header (magic, version, payload length, CRC-32 of
 * the payload, first seq, record count, CRC-32 of the header) and the batch's bytes. A JSON payload never holds a
 * byte below 0x20, and every header does, so a header cannot be forged by record content.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { existsSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { readAt } from './log-file.ts';
import type { ChainChecker } from './chain.ts';
import { parseRecord } from './record.ts';

export const JOURNAL_FILE = 'evidence.journal';
export const DEFAULT_JOURNAL_BYTES = 16 << 20;

const PAGE = 4096;
const HEADER = 32;
const MAGIC = 0x314a4350; // "PCJ1" little-endian
const VERSION = 1;
/** zeroes written per step while the journal file is first filled, between frame writes */
const FILL_STEP = 1 << 20;
/** how much of the journal recovery reads at a time, looking for frame headers */
const SCAN_CHUNK = 1 << 20;

/** The journal's file, behind an interface so tests can inject write and flush failures. */
export interface JournalFile {
  size(): Promise<number>;
  read(position: number, length: number): Promise<Buffer>;
  /** writes every byte at `position` (into the page cache) */
  writeAt(data: Buffer, position: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export type OpenJournalFile = (path: string) => Promise<JournalFile>;

export const openJournalFile: OpenJournalFile = async (path) =>
  journalFile(
    // Not O_APPEND: positioned writes must land where they are aimed.
    await open(path, 'r+').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      return open(path, 'w+', 0o640);
    }),
  );

function journalFile(fh: FileHandle): JournalFile {
  return {
    async size() {
      return (await fh.stat()).size;
    },
    read: (position, length) => readAt(fh, position, length),
    async writeAt(data, position) {
      // Synchronous for the same reason as the log's appends: a page-cache write is cheaper than
      // the thread-pool hop.
      let done = 0;
      while (done < data.length) done += writeSync(fh.fd, data, done, data.length - done, position + done);
    },
    async sync() {
      await fh.datasync();
    },
    async close() {
      await fh.close();
    },
  };
}

export function journalPath(dir: string): string {
  return join(dir, JOURNAL_FILE);
}

/**
 * Read-only, for `evidence verify`: the records the journal holds past the checker's head
 * (acknowledged, and not in the log after a host crash until the gateway starts again).
 */
export async function journalTail(dir: string, chain: ChainChecker): Promise<string[]> {
  if (!existsSync(journalPath(dir))) return [];
  // Opened read-only: a write through it would fail (EBADF), and recovery only reads.
  const journal = await EvidenceJournal.open(dir, { bytes: 0, syncLog: async () => undefined, openFile: async (path) => journalFile(await open(path, 'r')) });
  try {
    return await journal.recover(chain);
  } finally {
    await journal.close();
  }
}

/** A frame's place, as a position that only grows (offset in the file = position % bytes). */
interface Placed {
  start: number;
  end: number;
}

export class EvidenceJournal {
  private readonly file: JournalFile;
  private readonly bytes: number;
  private readonly syncLog: () => Promise<void>;
  /** where the next frame goes */
  private pos = 0;
  /** frames whose records may not be durable in the log yet, oldest first */
  private readonly pending: Placed[] = [];
  private pendingHead = 0;
  /** frames written and not yet acknowledged, oldest first (a failed batch's are wiped) */
  private unacked: Placed[] = [];
  private logSync: Promise<void> | undefined;
  private logSyncStartedAt = 0;
  private failure: unknown;
  /** the file's initialised length while it is first being filled with zeroes */
  private filled: number;
  private filling = false;
  private closed = false;

  private constructor(file: JournalFile, bytes: number, filled: number, syncLog: () => Promise<void>) {
    this.file = file;
    this.bytes = bytes;
    this.filled = filled;
    this.syncLog = syncLog;
  }

  /**
   * Opens (or creates) the journal. A new or short file is filled with zeroes in the background:
   * until a region is filled, a frame written there allocates blocks and costs what an append costs.
   */
  static async open(dir: string, opts: { bytes: number; syncLog: () => Promise<void>; openFile?: OpenJournalFile }): Promise<EvidenceJournal> {
    const bytes = Math.max(PAGE * 4, Math.ceil(opts.bytes / PAGE) * PAGE);
    const file = await (opts.openFile ?? openJournalFile)(journalPath(dir));
    const size = await file.size();
    return new EvidenceJournal(file, bytes, Math.min(size, bytes), opts.syncLog);
  }

  /**
   * Records the journal holds after the chain's head (the log's last record) as log lines, in seq
   * order and only while `chain` accepts them: the journal never overrides the log.
   */
  async recover(chain: ChainChecker): Promise<string[]> {
    const head = { seq: chain.expected - 1 };
    // The whole file: frames may lie past the filled length, or past a since-reduced journal size.
    const size = await this.file.size();
    const frames: { firstSeq: number; lines: string[] }[] = [];
    for (let chunkAt = 0; chunkAt < size; chunkAt += SCAN_CHUNK) {
      const chunk = await this.file.read(chunkAt, Math.min(SCAN_CHUNK, size - chunkAt));
      for (let at = 0; at + HEADER <= chunk.length; at += PAGE) {
        const frame = parseHeader(chunk.subarray(at, at + HEADER));
        // Frames the log already holds entirely are not even read.
        if (!frame || frame.firstSeq + frame.count - 1 <= head.seq) continue;
        const start = chunkAt + at + HEADER;
        if (start + frame.length > size) continue;
        const payload = at + HEADER + frame.length <= chunk.length ? chunk.subarray(at + HEADER, at + HEADER + frame.length) : await this.file.read(start, frame.length);
        if (payload.length !== frame.length || crc32(payload) !== frame.crc) continue;
        const lines = payload.toString('utf8').split('\n');
        if (lines.pop() !== '' || lines.length !== frame.count) continue;
        frames.push({ firstSeq: frame.firstSeq, lines });
      }
    }
    frames.sort((a, b) => a.firstSeq - b.firstSeq);
    const out: string[] = [];
    let next = head.seq + 1;
    for (const frame of frames) {
      for (const line of frame.lines) {
        const seq = seqOf(line);
        if (seq === undefined || seq < next) continue;
        if (seq > next) return sealedOnly(out, chain);
        const record = parseRecord(line);
        if (!record || chain.push(record, line) !== undefined) return sealedOnly(out, chain);
        out.push(line);
        next++;
      }
    }
    return sealedOnly(out, chain);
  }

  /** The log holds every frame written so far durably: start over, and finish filling the file. */
  reset(): void {
    this.pending.length = 0;
    this.pendingHead = 0;
    this.unacked = [];
    this.logSyncStartedAt = this.pos;
    this.failure = undefined;
    if (this.filled < this.bytes && !this.filling) void this.fill();
  }

  /**
   * Writes a batch's bytes as a frame and returns the position after it, or undefined when the
   * batch is larger than the journal (the caller then flushes the log itself).
   */
  async write(payload: Buffer, firstSeq: number, count: number): Promise<number | undefined> {
    if (this.failure !== undefined) throw this.failure;
    const length = HEADER + payload.length;
    if (length > this.bytes) return undefined;
    let start = this.pos;
    let offset = start % this.bytes;
    if (offset + length > this.bytes) {
      start += this.bytes - offset;
      offset = 0;
    }
    const end = start + length;
    // Overwriting a frame the log may not have flushed would lose it in a crash: flush the log first.
    while (this.pendingHead < this.pending.length && (this.pending[this.pendingHead] as Placed).start < end - this.bytes) {
      await this.flushLog();
      if (this.failure !== undefined) throw this.failure;
    }
    const frame = Buffer.allocUnsafe(length);
    writeHeader(frame, payload, firstSeq, count);
    payload.copy(frame, HEADER);
    // Placed before it is written: a write that fails part-way is still wiped by discardUnacked.
    this.pos = Math.ceil(end / PAGE) * PAGE;
    const placed = { start, end };
    this.pending.push(placed);
    this.unacked.push(placed);
    await this.file.writeAt(frame, offset);
    if (this.pos - this.logSyncStartedAt >= this.bytes / 4) void this.flushLog();
    return end;
  }

  /** Makes the frames written so far durable. */
  sync(): Promise<void> {
    return this.file.sync();
  }

  /** Frames up to `end` are acknowledged. */
  acked(end: number): void {
    let n = 0;
    while (n < this.unacked.length && (this.unacked[n] as Placed).end <= end) n++;
    if (n > 0) this.unacked.splice(0, n);
  }

  /**
   * A batch failed: its frames and any after it must never be recovered, so their headers are
   * wiped (and flushed) before anything else is written. Throws while the disk still refuses.
   */
  async discardUnacked(): Promise<void> {
    // Every unacknowledged frame, also one the log has flushed since: the store cuts the log back
    // to what was acknowledged, and the journal must not put it back.
    const zero = Buffer.alloc(HEADER);
    for (const frame of this.unacked) await this.file.writeAt(zero, frame.start % this.bytes);
    if (this.unacked.length > 0) await this.file.sync();
    this.unacked = [];
    this.failure = undefined;
  }

  /** Keeps the log's unflushed tail short when traffic is light (the store's timer calls this). */
  flushLogIfBehind(): void {
    if (this.pendingHead < this.pending.length && !this.logSync) void this.flushLog();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.logSync?.catch(() => undefined);
    await this.file.close();
  }

  /** One log flush at a time; it covers every frame written before it starts. */
  private flushLog(): Promise<void> {
    if (this.logSync) return this.logSync;
    // Every frame written so far has its bytes in the log already (the store appends there first).
    const covered = this.pos;
    this.logSyncStartedAt = this.pos;
    this.logSync = this.syncLog()
      .then(
        () => {
          // By position, not index: a reset or a compaction may have reshaped the list meanwhile.
          while (this.pendingHead < this.pending.length && (this.pending[this.pendingHead] as Placed).end <= covered) this.pendingHead++;
          if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
            this.pending.splice(0, this.pendingHead);
            this.pendingHead = 0;
          }
        },
        (error: unknown) => {
          // Sticky: the store learns of it at the next write and goes through its failure path.
          this.failure = error ?? new Error('flushing evidence.jsonl failed');
        },
      )
      .finally(() => {
        this.logSync = undefined;
      });
    return this.logSync;
  }

  /**
   * Fills the file with zeroes up to its full size, a step at a time between frame writes. A step
   * never covers what a frame has been written to: frames only move forward during the first pass.
   */
  private async fill(): Promise<void> {
    this.filling = true;
    try {
      const zeroes = Buffer.alloc(FILL_STEP);
      while (!this.closed && this.filled < this.bytes) {
        // Frames initialised every page up to where they reached; once they wrap, nothing is left to fill.
        const from = Math.max(this.filled, Math.min(this.pos, this.bytes));
        const length = Math.min(FILL_STEP, this.bytes - from);
        if (length > 0) await this.file.writeAt(zeroes.subarray(0, length), from);
        this.filled = from + Math.max(0, length);
        await new Promise((r) => setTimeout(r, 2));
      }
      if (!this.closed) await this.file.sync();
    } catch {
      // A failed fill only leaves part of the file slower to write; frame writes report real faults.
    } finally {
      this.filling = false;
    }
  }
}

/** v2 records whose seal the journal does not hold are not recovered: their batch was never acknowledged. */
function sealedOnly(lines: string[], chain: ChainChecker): string[] {
  const unsealed = chain.pendingCount();
  return unsealed > 0 ? lines.slice(0, lines.length - unsealed) : lines;
}

function writeHeader(frame: Buffer, payload: Buffer, firstSeq: number, count: number): void {
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(VERSION, 4);
  frame.writeUInt32LE(payload.length, 8);
  frame.writeUInt32LE(crc32(payload), 12);
  frame.writeDoubleLE(firstSeq, 16);
  frame.writeUInt32LE(count, 24);
  frame.writeUInt32LE(crc32(frame.subarray(0, 28)), 28);
}

function parseHeader(h: Buffer): { length: number; crc: number; firstSeq: number; count: number } | undefined {
  if (h.length < HEADER || h.readUInt32LE(0) !== MAGIC || h.readUInt32LE(4) !== VERSION) return undefined;
  if (crc32(h.subarray(0, 28)) !== h.readUInt32LE(28)) return undefined;
  const firstSeq = h.readDoubleLE(16);
  const count = h.readUInt32LE(24);
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 1 || count < 1) return undefined;
  return { length: h.readUInt32LE(8), crc: h.readUInt32LE(12), firstSeq, count };
}

/** A record line starts `{"seq":N,` (sealRecord writes it so). */
function seqOf(line: string): number | undefined {
  const m = /^\{"seq":(\d{1,16}),/.exec(line);
  return m ? Number(m[1]) : undefined;
}
