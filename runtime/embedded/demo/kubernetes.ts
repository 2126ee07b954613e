/**
 * A small Kubernetes API server for `portcullis up` and the tests: the real paths and JSON shapes
 * kubectl uses for discovery, pods, logs, secrets, watch streams, and an exec upgrade over WebSocket
 * (v5/v4.channel.k8s.io). With a token it answers only requests carrying it, as a cluster would
 * answer only the gateway's own credential.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export const SECRET_VALUE = 's3cr3t-db-password';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function pod(name: string) {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '10', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'app', image: 'shop:1' }] },
    status: { phase: 'Running' },
  };
}

function secret(name: string) {
  const body = {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: 'shop',
      resourceVersion: '11',
      creationTimestamp: '2026-01-01T00:00:00Z',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', data: { password: b64(SECRET_VALUE) }, metadata: { name } }),
      },
    },
    type: 'Opaque',
    data: { password: b64(SECRET_VALUE), username: b64('shop') },
  };
  return body;
}

const discovery = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] },
    ],
  },
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0' },
} as Record<string, unknown>;

export interface ApiServer {
  url: string;
  seen: { method: string; url: string; authorization?: string }[];
  close(): Promise<void>;
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  const b = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(b.length) });
  res.end(b);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname;
  const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  if (discovery[p]) return json(res, discovery[p]);
  if (p === '/api/v1/namespaces/shop/pods' && req.method === 'GET' && !watch) {
    return json(res, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '12' }, items: [pod('web-1'), pod('web-2')] });
  }
  if (p === '/api/v1/namespaces/shop/pods/web-1' && req.method === 'GET') return json(res, pod('web-1'));
  if (p === '/api/v1/namespaces/shop/pods/web-1/log') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('started\nconnected to db as shop (contact dba@example.com)\n');
    return;
  }
  if (p === '/api/v1/namespaces/shop/secrets' && !watch) {
    const list = { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '12' }, items: [secret('db'), secret('api')] };
    for (const item of list.items) {
      delete (item as Partial<typeof item>).kind; // list items carry no kind on the wire
      delete (item as Partial<typeof item>).apiVersion;
    }
    return json(res, list);
  }
  if (p === '/api/v1/namespaces/shop/secrets/db') return json(res, secret('db'));
  if (watch && (p === '/api/v1/namespaces/shop/secrets' || p === '/api/v1/namespaces/shop/pods')) {
    // a real watch: chunked JSON events, one per line, written over time, left open
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const make = p.endsWith('secrets') ? secret : pod;
    const events = [
      { type: 'ADDED', object: make('one') },
      { type: 'MODIFIED', object: make('two') },
    ];
    let i = 0;
    const timer = setInterval(() => {
      const ev = events[i++];
      if (!ev) {
        clearInterval(timer);
        res.end();
        return;
      }
      const text = JSON.stringify(ev) + '\n';
      // split an event across two chunks, as real servers do
      res.write(text.slice(0, 40));
      res.write(text.slice(40));
    }, 30);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (req.method === 'DELETE') return json(res, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
  json(res, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: `${p} not found` }, 404);
}

function frame(payload: Buffer, opcode = 0x2): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, payload]);
}

/** exec over WebSocket: stdout "hello from <pod>", then a Success status on the error channel. */
function upgrade(req: IncomingMessage, socket: Duplex): void {
  const key = req.headers['sec-websocket-key'];
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((s) => s.trim());
  const proto = ['v5.channel.k8s.io', 'v4.channel.k8s.io'].find((p) => offered.includes(p));
  if (!key || !proto || !/\/exec$/.test(new URL(req.url ?? '/', 'http://x').pathname)) {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nsec-websocket-protocol: ${proto}\r\n\r\n`);
  const pod = /pods\/([^/]+)\/exec/.exec(req.url ?? '')?.[1] ?? '?';
  socket.on('error', () => {});
  socket.on('data', () => {});
  setTimeout(() => {
    socket.write(frame(Buffer.concat([Buffer.from([1]), Buffer.from(`hello from ${pod}\n`)])));
    socket.write(frame(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }))])));
    socket.write(frame(Buffer.from([0x03, 0xe8]), 0x8));
    setTimeout(() => socket.end(), 50);
  }, 20);
}

export async function startApiServer(opts: { port?: number; token?: string } = {}): Promise<ApiServer> {
  const seen: ApiServer['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      json(res, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401, message: 'Unauthorized' }, 401);
      return;
    }
    req.resume();
    req.on('end', () => handle(req, res));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    upgrade(req, socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
