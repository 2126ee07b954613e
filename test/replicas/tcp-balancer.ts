/**
 * A tiny layer-4 load balancer for tests: round robin over upstreams, and like HAProxy with
 * `option redispatch`, a connection whose upstream refuses is retried on the next one. It can also
 * go "down" (stop listening and cut every connection) and come back on the same port, which makes
 * it a stand-in for a backend that restarts.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

export interface Balancer {
  port: number;
  /** connections handed to each upstream ("host:port" -> count) */
  served: Map<string, number>;
  /** stop listening and cut every open connection */
  down(): Promise<void>;
  /** listen again on the same port */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startBalancer(upstreams: Upstream[], opts: { port?: number } = {}): Promise<Balancer> {
  const sockets = new Set<Socket>();
  const served = new Map<string, number>();
  let next = 0;
  let server: Server | undefined;
  let port = opts.port ?? 0;

  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };

  const accept = (client: Socket) => {
    track(client);
    client.pause();
    // Its own walk from its own start: a shared cursor would let concurrent connections skip the live one.
    const start = next++;
    const tryUpstream = (attempt: number) => {
      if (attempt >= upstreams.length || client.destroyed) {
        client.destroy();
        return;
      }
      const u = upstreams[(start + attempt) % upstreams.length]!;
      const up = connect(u.port, u.host);
      const failed = () => {
        up.destroy();
        tryUpstream(attempt + 1);
      };
      up.once('error', failed);
      up.once('connect', () => {
        up.off('error', failed);
        track(up);
        const key = `${u.host}:${u.port}`;
        served.set(key, (served.get(key) ?? 0) + 1);
        up.setNoDelay(true);
        client.setNoDelay(true);
        client.pipe(up);
        up.pipe(client);
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        client.resume();
      });
    };
    tryUpstream(0);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(accept);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const a = s.address();
        port = typeof a === 'object' && a ? a.port : port;
        server = s;
        resolve();
      });
    });

  const down = async () => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
    for (const sock of sockets) sock.destroy();
    await closed;
  };

  await listen();
  return {
    get port() {
      return port;
    },
    served,
    down,
    up: listen,
    close: down,
  };
}
