/**
 * Masked streams through the gateway: NDJSON and SSE responses are masked line by line and event by
 * event as they arrive (the agent has the first masked event while the upstream still holds the
 * next), and a stream longer than the target's body limit flows through as long as each event fits.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startHarness, type Harness } from './harness.ts';

let server: Server;
let h: Harness;
let token: string;
let base: string;
/** resolvers the upstream waits on before sending the rest of a stream */
const gates = new Map<string, () => void>();
const gate = (name: string) => new Promise<void>((resolve) => gates.set(name, resolve));
const open = (name: string) => gates.get(name)?.();

const LINES = 3000;
const LINE = (i: number) => JSON.stringify({ i, email: `user${i}@example.com`, pad: 'x'.repeat(900) });

async function stream(res: ServerResponse, type: string, first: string, rest: string[], gateName: string): Promise<void> {
  res.writeHead(200, { 'content-type': type });
  res.write(first);
  await gate(gateName);
  for (const chunk of rest) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
  res.end();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ndjson') void stream(res, 'application/x-ndjson', `${LINE(0)}\n`, [`${LINE(1)}\n`], 'ndjson');
    else if (req.url === '/sse')
      void stream(
        res,
        'text/event-stream',
        `id: 1\ndata: {"email":"ada@example.com","n":1}\n\n`,
        [`: keep-alive\n\nid: 2\nevent: update\ndata: {"email":"bob@example.com",\ndata:  "n":2}\n\n`, `data: contact bob@example.com\n\n`],
        'sse',
      );
    else if (req.url === '/long') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      (async () => {
        for (let i = 0; i < LINES; i++) if (!res.write(`${LINE(i)}\n`)) await new Promise((r) => res.once('drain', r));
        res.end();
      })();
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  h = await startHarness({
    'targets/feed.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: feed }
spec:
  type: http
  url: http://127.0.0.1:${port}
  maxBodyBytes: 65536
  classification:
    - name: pii
      fields: ["$..email"]
      content: [email]
      strategy: partial
`,
    'policies/feed.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: feed }
spec:
  subjects: [{ group: support }]
  targets: [feed]
  rules:
    - { id: read, effect: allow, actions: [GET], resources: ["/**"] }
`,
  });
  token = await h.token('support-agent');
  base = `${h.gateway.url}/feed`;
});

afterAll(async () => {
  for (const g of gates.values()) g();
  await h?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Reads a response body, calling `seen` with everything so far after each chunk. */
async function read(path: string, seen?: (text: string) => void): Promise<{ status: number; text: string }> {
  const r = await request(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  let text = '';
  for await (const chunk of r.body) {
    text += Buffer.from(chunk).toString('utf8');
    seen?.(text);
  }
  return { status: r.statusCode, text };
}

describe('masked streams', () => {
  it('mask NDJSON line by line as it arrives', async () => {
    let soFar = '';
    const done = read('/ndjson', (t) => (soFar = t));
    // the first masked line arrives while the upstream still holds the second
    await expect.poll(() => soFar, { timeout: 20_000 }).toContain('"i":0');
    expect(soFar).not.toContain('user0@example.com');
    expect(soFar).toContain('u***@example.com');
    open('ndjson');
    const r = await done;
    expect(r.status).toBe(200);
    expect(
      r.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).email),
    ).toEqual(['u***@example.com', 'u***@example.com']);
  });

  it('mask SSE event by event, keeping ids and event names, and text data through the detectors', async () => {
    let soFar = '';
    const done = read('/sse', (t) => (soFar = t));
    await expect.poll(() => soFar, { timeout: 20_000 }).toContain('id: 1\n');
    expect(soFar).not.toContain('ada@example.com');
    open('sse');
    const r = await done;
    expect(r.status).toBe(200);
    expect(r.text).not.toMatch(/ada@example\.com|bob@example\.com/);
    const events = r.text.split('\n\n').filter((e) => e.trim() !== '' && e.trim() !== ':');
    expect(events[0]).toBe('id: 1\ndata: {"email":"a***@example.com","n":1}');
    expect(events[1]).toBe(':\nid: 2\nevent: update\ndata: {"email":"b***@example.com","n":2}');
    expect(events[2]).toBe('data: contact [email]');
  });

  it('carry a stream longer than the body limit, each line masked, with memory bounded by one line', async () => {
    const r = await read('/long');
    expect(r.status).toBe(200);
    const lines = r.text.trim().split('\n');
    expect(lines).toHaveLength(LINES);
    expect(r.text).not.toMatch(/user\d+@example\.com/);
    expect(r.text.length).toBeGreaterThan(65536 * 10);
  });
});
