/**
 * A hand-driven PostgreSQL client for tests that must control every byte (Execute without Describe,
 * binary formats, malformed frames) and see every byte the gateway sent back.
 */
import { connect, type Socket } from 'node:net';
import { BackendParser, decodeErrorFields, type BackendFrame } from '../../runtime/protocols/postgres/wire/backend.ts';
import { passwordMessage, startupMessage } from '../../runtime/protocols/postgres/wire/serialize.ts';

export class WireClient {
  private chunks: Buffer[] = [];
  /** every byte received since connect, including startup */
  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
  readonly frames: BackendFrame[] = [];
  closed = false;
  /** the BackendKeyData the gateway handed out at login */
  key: { processId: number; secretKey: number } | undefined;
  private readonly parser = new BackendParser();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      try {
        for (const f of this.parser.parse(chunk)) this.frames.push(f);
      } catch {
        // malformed backend bytes show up as a test failure on what was expected instead
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number): Promise<WireClient> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new WireClient(socket);
  }

  /** Startup and password; resolves after the first ReadyForQuery (or rejects with the server's error). */
  static async login(port: number, token: string, database = 'shop-db', user = 'agent'): Promise<WireClient> {
    const c = await WireClient.connect(port);
    c.send(startupMessage({ user, database }));
    await c.until((f) => f.code === 'R');
    c.send(passwordMessage(token));
    const f = await c.until((f) => f.code === 'Z' || f.code === 'E');
    if (f.code === 'E') throw new Error(`login failed: ${decodeErrorFields(f.body).get('M')}`);
    const k = c.frames.find((x) => x.code === 'K');
    if (k) c.key = { processId: k.body.readInt32BE(0), secretKey: k.body.readInt32BE(4) };
    c.frames.length = 0;
    return c;
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  /** Wait for a frame matching `pred` (searching from the start of `frames`), or the socket closing. */
  async until(pred: (f: BackendFrame) => boolean, timeoutMs = 10_000): Promise<BackendFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error(`connection closed; frames: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** Wait until `n` ReadyForQuery frames have arrived in total. */
  async readyCount(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => this.frames.filter((f) => f.code === 'Z').length >= n, timeoutMs);
  }

  async waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.closed) throw new Error(`connection closed; frames: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** Resolve when the socket closes (or reject after the timeout). */
  async closedWithin(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`still open after ${timeoutMs} ms; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  errors(): Map<string, string>[] {
    return this.frames.filter((f) => f.code === 'E').map((f) => decodeErrorFields(f.body));
  }

  codes(): string {
    return this.frames.map((f) => f.code).join('');
  }

  describe(): string {
    return this.frames.map((f) => (f.code === 'E' || f.code === 'N' ? `${f.code}(${decodeErrorFields(f.body).get('M')})` : f.code)).join(' ');
  }

  close(): void {
    this.socket.destroy();
  }
}
