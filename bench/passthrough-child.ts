/**
 * A bare Node.js TCP passthrough to the bench's PostgreSQL: no parsing, no policy, no evidence.
 * It is the ceiling any Node.js gateway runs under on this machine (the cost of the extra hop and
 * of Node's socket layer), so the gateway's own cost is the gap between the two columns.
 *
 * Environment: BENCH_BACKEND_PORT. Prints `{"port":N}` when ready; exits on SIGTERM.
 */
import { createConnection, createServer } from 'node:net';

const backendPort = Number(process.env.BENCH_BACKEND_PORT);
if (!Number.isInteger(backendPort)) throw new Error('BENCH_BACKEND_PORT is required');

const server = createServer({ noDelay: true }, (client) => {
  const backend = createConnection({ host: '127.0.0.1', port: backendPort, noDelay: true });
  client.pipe(backend).pipe(client);
  const end = () => (client.destroy(), backend.destroy());
  client.on('error', end).on('close', end);
  backend.on('error', end).on('close', end);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
