/** A real HTTP upstream for the gateway tests: each route serves one shape the masking must handle. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

export interface Upstream {
  port: number;
  url: string;
  /** every request the upstream saw */
  seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

export const USERS = {
  users: [
    { id: 1, name: 'Ada', email: 'ada@example.com', card_number: '4111 1111 1111 1111', address: { email: 'ada.home@example.org' } },
    { id: 2, name: 'Bob', email: 'bob@example.com', note: 'SSN on file: 123-45-6789' },
  ],
  items: [{ ssn: '123-45-6789', tags: [['x', { email: 'deep@example.com' }]] }],
};

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

function json(res: ServerResponse, value: unknown, status = 200, headers: Record<string, string> = {}): void {
  const b = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(b.length), ...headers });
  res.end(b);
}

function raw(res: ServerResponse, body: Buffer | string, headers: Record<string, string>): void {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(200, { 'content-length': String(b.length), ...headers });
  res.end(b);
}

export function routes(self: () => Upstream): Record<string, Handler> {
  return {
    '/base/users': (_req, res) => json(res, USERS, 200, { etag: '"v1"', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'hop', 'keep-alive': 'timeout=77' }),
    '/base/echo': (req, res, body) => json(res, { method: req.method, url: req.url, headers: req.headers, body }),
    '/base/numbers': (_req, res) =>
      raw(res, '{"id":12345678901234567890,"amount":1.10,"huge":1e400,"neg":-0,"exp":1E2,"email":"n@example.com","nested":[9007199254740993,{"v":2.50}],"s":"12345678901234567890","plain":42}', {
        'content-type': 'application/json',
      }),
    '/base/numbers-masked': (_req, res) => raw(res, '{"card_number":98765432109876543210,"name":"m"}', { 'content-type': 'application/json' }),
    '/base/numbers-forged': (_req, res) => raw(res, '{"card_number":98765432109876543210,"note":"\\u000098765432109876543210"}', { 'content-type': 'application/json' }),
    '/base/numbers-nul': (_req, res) => raw(res, '{"note":"\\u0000 ssn 123-45-6789","n":12345678901234567890}', { 'content-type': 'application/json' }),
    '/base/duplicate': (_req, res) => raw(res, '{"email":"first@example.com","name":"d","email":"second@example.com"}', { 'content-type': 'application/json' }),
    '/base/escaped': (_req, res) => raw(res, '{"\\u0065mail":"escaped@example.com","n\\u0061me":"e"}', { 'content-type': 'application/json' }),
    '/base/gzip': (_req, res) => raw(res, gzipSync(JSON.stringify(USERS)), { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
    '/base/br': (_req, res) => raw(res, brotliCompressSync(JSON.stringify(USERS)), { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'br' }),
    '/base/deflate': (_req, res) => raw(res, deflateSync(JSON.stringify(USERS)), { 'content-type': 'application/json', 'content-encoding': 'deflate' }),
    '/base/zstd': (_req, res) => raw(res, Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), { 'content-type': 'application/json', 'content-encoding': 'zstd' }),
    '/base/chunked': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = JSON.stringify(USERS);
      let i = 0;
      const step = () => {
        if (i >= text.length) return res.end();
        res.write(text.slice(i, i + 7));
        i += 7;
        setImmediate(step);
      };
      step();
    },
    '/base/lie': (_req, res) => raw(res, JSON.stringify(USERS), { 'content-type': 'text/plain' }),
    '/base/lie-lines': (_req, res) => raw(res, USERS.users.map((u) => JSON.stringify(u)).join('\n'), { 'content-type': 'text/plain' }),
    '/base/pretty-lie': (_req, res) => raw(res, `garbage first\n${JSON.stringify(USERS, null, 2)}`, { 'content-type': 'text/plain' }),
    '/base/text': (_req, res) => raw(res, 'hello, call 123-45-6789 or mail ops@example.com', { 'content-type': 'text/plain' }),
    '/base/html': (_req, res) => raw(res, '<p>hi</p>', { 'content-type': 'text/html' }),
    '/base/bad-json': (_req, res) => raw(res, '{"email": "x@example.com", ', { 'content-type': 'application/json' }),
    '/base/proto': (_req, res) => raw(res, '{"__proto__":{"email":"proto@example.com"},"email":"p@example.com"}', { 'content-type': 'application/json' }),
    '/base/redirect': (_req, res) => {
      res.writeHead(302, { location: `${self().url}/base/users`, 'content-type': 'text/html', 'content-length': '9' });
      res.end('<a>go</a>');
    },
    '/base/slow': (_req, res) => {
      setTimeout(() => json(res, { late: true }), 3000).unref();
    },
    '/base/big': (_req, res) => json(res, { blob: 'x'.repeat(20_000) }),
    '/base/invoices/7': (req, res) => json(res, { id: 7, path: req.url, email: 'billing@example.com' }),
  };
}

export async function startUpstream(): Promise<Upstream> {
  let self!: Upstream;
  const table = routes(() => self);
  const seen: Upstream['seen'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0]!;
      const handler = table[path];
      if (handler) handler(req, res, body);
      else json(res, { error: 'not found', path }, 404);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  self = {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}
