/**
 * The append-only file under the evidence store, behind a small interface so tests can inject
 * write and fsync failures (root ignores permission bits, so real faults are hard to provoke).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { writeSync } from 'node:fs';

export interface LogFile {
  size(): Promise<number>;
  read(position: number, length: number): Promise<Buffer>;
  /** writes every byte at the end of the file */
  append(data: Buffer): Promise<void>;
  /** makes appended bytes durable */
  sync(): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export type OpenLogFile = (path: string) => Promise<LogFile>;

export const openLogFile: OpenLogFile = async (path) => {
  const fh: FileHandle = await open(path, 'a+', 0o640);
  return {
    async size() {
      return (await fh.stat()).size;
    },
    read: (position, length) => readAt(fh, position, length),
    async append(data) {
      let done = 0;
      // O_APPEND: every write lands at the current end, so a short write just continues there.
      // Synchronous on purpose: a write into the page cache takes microseconds, less than the hop
      // through libuv's thread pool that an asynchronous write costs every statement.
      while (done < data.length) done += writeSync(fh.fd, data, done, data.length - done);
    },
    async sync() {
      await fh.datasync();
    },
    async truncate(size) {
      await fh.truncate(size);
    },
    async close() {
      await fh.close();
    },
  };
};

/** Up to `length` bytes from `position`: fewer only at the end of the file. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** Makes a newly created file's directory entry durable (fsync on the directory). */
export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
