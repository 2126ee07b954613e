/**
 * Closing a client socket for good. `end()` alone only half-closes: a client that keeps its side
 * open (or has unread bytes in flight) would hold the descriptor until the limit is reached. The
 * client gets the last message and a short linger to read it; then the socket is destroyed.
 */
import type { Socket } from 'node:net';

/** how long a closing client has to read its FATAL before the socket is destroyed */
export const LINGER_MS = 1_000;

const discard = (): void => {};

export function closeClient(socket: Socket, last?: Buffer): void {
  if (socket.destroyed) return;
  socket.on('error', discard);
  // Reading on (and discarding) lets the client's FIN be seen, so a well-behaved client closes at once.
  socket.on('data', discard);
  socket.resume();
  if (last && socket.writable) socket.end(last);
  else socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
