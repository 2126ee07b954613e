/**
 * Reads whole client messages one at a time during startup and authentication, then hands the
 * parser (with any bytes already buffered) to the session.
 */
import type { Socket } from 'node:net';
import { PortcullisError } from '../../errors.ts';
import { FrontendParser, type FrontendMessage } from './wire/frontend.ts';

export class ClientReader {
  readonly parser = new FrontendParser({ maxControlBytes: 64 * 1024 });
  private socket: Socket;
  private waiter: { resolve: (m: FrontendMessage) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  /** the client closed its connection while the reader was attached */
  clientGone = false;
  private readonly onData = (chunk: Buffer) => {
    this.parser.push(chunk);
    this.pump();
  };
  private readonly onClose = () => {
    this.clientGone = true;
    this.fail(new PortcullisError('unavailable', 'the client closed the connection during startup'));
  };
  private readonly onError = (err: Error) => this.fail(new PortcullisError('unavailable', `client connection error: ${err.message}`, { cause: err }));

  constructor(socket: Socket) {
    this.socket = socket;
    this.attach();
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('close', this.onClose);
    this.socket.on('error', this.onError);
  }

  detach(): Socket {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    this.socket.pause();
    return this.socket;
  }

  /** Continue on another socket (the TLS socket wrapping the plain one after SSLRequest). */
  switchTo(socket: Socket): void {
    this.detach();
    this.socket = socket;
    this.attach();
    socket.resume();
  }

  next(timeoutMs: number): Promise<FrontendMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new PortcullisError('deadline_exceeded', `the client did not complete startup within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.waiter = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.pump();
    });
  }

  private pump(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    if (this.failure) {
      this.waiter = undefined;
      w.reject(this.failure);
      return;
    }
    try {
      const m = this.parser.next();
      if (m) {
        this.waiter = undefined;
        w.resolve(m);
      }
    } catch (err) {
      this.waiter = undefined;
      w.reject(err);
    }
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.pump();
  }
}
