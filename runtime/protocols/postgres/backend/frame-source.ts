/**
 * Pulls whole backend frames from a socket one at a time, for the request/response stretches the
 * gateway drives itself (startup, authentication, its own catalog queries). Detaching leaves the
 * socket paused and returns the bytes that were read but not consumed.
 */
import type { Socket } from 'node:net';
import { PortcullisError } from '../../../errors.ts';
import { BackendParser, type BackendFrame } from '../wire/backend.ts';

export class FrameSource {
  private readonly parser = new BackendParser();
  private waiter: { resolve: (f: BackendFrame) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  private readonly onData = (chunk: Buffer) => {
    this.parser.push(chunk);
    this.pump();
  };
  private readonly onEnd = () => this.fail(new PortcullisError('unavailable', `${this.where} closed the connection`));
  private readonly onError = (err: Error) => this.fail(new PortcullisError('unavailable', `${this.where}: ${err.message}`, { cause: err }));

  constructor(
    private readonly socket: Socket,
    private readonly where: string,
    initial?: Buffer,
  ) {
    if (initial?.length) this.parser.push(initial);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    socket.resume();
    if (socket.destroyed) this.fail(new PortcullisError('unavailable', `${where}: the connection is closed`));
  }

  next(): Promise<BackendFrame> {
    return new Promise((resolve, reject) => {
      if (this.waiter) throw new PortcullisError('internal', 'FrameSource.next called concurrently');
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  fail(err: unknown): void {
    this.failure ??= err;
    this.pump();
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    let frame: BackendFrame | undefined;
    try {
      frame = this.parser.next();
    } catch (err) {
      this.failure ??= err;
    }
    if (frame) {
      this.waiter = undefined;
      w.resolve(frame);
    } else if (this.failure !== undefined) {
      this.waiter = undefined;
      w.reject(this.failure);
    }
  }

  /** Stop reading; returns buffered bytes not yet handed out as frames. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    return this.parser.drain();
  }
}
