/**
 * A small billing API for `portcullis up`, the upstream of the example `billing-api` target: its
 * JSON carries customer emails and card numbers, so masking has something to do.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const invoices = [
  { id: 7, number: 'INV-2026-11-007', customer: { name: 'Ada Lovelace', email: 'ada.lovelace@example.com' }, total: 129.5, card_number: '4111 1111 1111 1111', status: 'paid' },
  { id: 8, number: 'INV-2026-11-008', customer: { name: 'Alan Turing', email: 'alan.turing@example.com' }, total: 42.0, card_number: '5555 5555 5555 4444', status: 'open' },
];

export interface DemoApi {
  url: string;
  close(): Promise<void>;
}

export async function startDemoBilling(opts: { port?: number; token?: string } = {}): Promise<DemoApi> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) return send(401, { error: 'unauthorized' });
    const url = new URL(req.url ?? '/', 'http://billing');
    req.resume();
    if (req.method === 'GET' && url.pathname.startsWith('/invoices')) {
      const id = Number(url.pathname.split('/').pop());
      const found = invoices.find((i) => i.id === id);
      return send(200, found ?? { items: invoices, limit: Number(url.searchParams.get('limit') ?? 50) });
    }
    if (req.method === 'GET' && url.pathname.startsWith('/customers/')) {
      return send(200, { id: url.pathname.split('/').pop(), name: 'Ada Lovelace', email: 'ada.lovelace@example.com', note: 'ssn on file: 123-45-6789' });
    }
    if (req.method === 'POST' && url.pathname === '/refunds') return send(201, { id: 'rf_1', status: 'pending' });
    if (req.method === 'DELETE') return send(204, {});
    return send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
