/**
 * The head witness: an append-only file, kept outside the evidence directory, that receives every
 * checkpoint's signed head (seq, hash, time) once the checkpoint is durable. The log alone cannot
 * show a cut back to an earlier checkpoint — what is left is a valid chain — but the witness
 * remembers that the chain once reached further, so `evidence verify` names the missing range.
 *
 * Writes happen per checkpoint (about once a second under load), never per record, and never on the
 * path of an append: a slow or broken witness delays no statement. Writes are serialised and
 * coalesced (only the newest pending head is written), and each is flushed before the next.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readLines } from './lines.ts';

export const WITNESS_FILE = 'evidence.heads';

/** One witnessed head: the checkpoint record (seq, hash, ts) and what it signs. */
export interface WitnessedHead {
  /** seq of the checkpoint record */
  seq: number;
  /** hash of the checkpoint record */
  hash: string;
  /** when the checkpoint was written */
  ts: string;
  /** the record the checkpoint signs, and the key that signed it */
  upTo: number;
  keyId: string;
}

export interface HeadWitness {
  readonly path: string;
  /** queues a head; resolves once it (or a newer one) is flushed; never rejects */
  record(head: WitnessedHead): Promise<void>;
  /** the last write's error, if the witness cannot be written */
  problem(): string | undefined;
  close(): Promise<void>;
}

export function parseWitnessLine(text: string): WitnessedHead | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (!Number.isSafeInteger(v.seq) || typeof v.hash !== 'string' || typeof v.ts !== 'string') return undefined;
    return { seq: v.seq as number, hash: v.hash, ts: v.ts, upTo: Number(v.upTo ?? 0), keyId: String(v.keyId ?? '') };
  } catch {
    return undefined;
  }
}

export class FileHeadWitness implements HeadWitness {
  readonly path: string;
  private fh: FileHandle | undefined;
  private pending: WitnessedHead | undefined;
  private writing: Promise<void> | undefined;
  private lastSeq = 0;
  private error: string | undefined;

  private constructor(path: string) {
    this.path = path;
  }

  static async open(path: string): Promise<FileHeadWitness> {
    const w = new FileHeadWitness(path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    w.fh = await open(path, 'a', 0o640);
    w.lastSeq = (await lastWitnessedHead(path))?.seq ?? 0;
    return w;
  }

  /** The newest head in the file (written by an earlier run too). */
  last(): number {
    return this.lastSeq;
  }

  record(head: WitnessedHead): Promise<void> {
    if (head.seq <= this.lastSeq) return Promise.resolve();
    this.pending = head;
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
    return this.writing;
  }

  problem(): string | undefined {
    return this.error;
  }

  private async drain(): Promise<void> {
    while (this.pending && this.fh) {
      const head = this.pending;
      this.pending = undefined;
      try {
        await this.fh.appendFile(`${JSON.stringify({ seq: head.seq, hash: head.hash, ts: head.ts, upTo: head.upTo, keyId: head.keyId })}\n`);
        await this.fh.datasync();
        this.lastSeq = head.seq;
        this.error = undefined;
      } catch (error) {
        this.error = `cannot write the evidence witness ${this.path}: ${(error as Error).message}`;
      }
    }
  }

  async close(): Promise<void> {
    await this.writing;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }
}

/** Streams a witness file's heads in file order; a line that is not a head is reported as such. */
export async function* readWitness(path: string): AsyncGenerator<WitnessedHead | { invalid: string }> {
  for await (const { text } of readLines(path)) {
    if (text.length === 0) continue;
    yield parseWitnessLine(text) ?? { invalid: text.slice(0, 80) };
  }
}

/** The newest head of a witness file (its last valid line, read from the end), undefined when it has none. */
export async function lastWitnessedHead(path: string): Promise<WitnessedHead | undefined> {
  if (!existsSync(path)) return undefined;
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 1 << 16);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const head = parseWitnessLine(lines[i] as string);
      if (head) return head;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
