/**
 * The HTTP listener knows no protocol: it routes each request to the handler given for its target's
 * type, writes refusals in that handler's error format, and serves no type it was given no handler
 * for. Driven over the wire with handlers that stand in for the adapters.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '../../runtime/bundle/model.ts';
import type { ListenerContext } from '../../runtime/http-transport/context.ts';
import type { TargetHandlers } from '../../runtime/http-transport/handler.ts';
import { startHttpListener, type HttpGateway } from '../../runtime/http-transport/listener.ts';
import { PortcullisError } from '../../runtime/errors.ts';

const target = (type: string) => ({ doc: { spec: { type, url: 'http://127.0.0.1:9/base' } } });
const bundle = {
  targets: new Map([
    ['api', target('http')],
    ['cluster', target('kubernetes')],
    ['tools', target('mcp')],
  ]),
} as unknown as Bundle;

const ctx: ListenerContext = {
  bundle: () => bundle,
  authenticate: async (token) => {
    if (token !== 'good') throw new PortcullisError('unauthenticated', 'bad token');
    return { identity: 'agent', groups: [] };
  },
  recorder: {} as ListenerContext['recorder'],
  now: () => new Date(),
  log: () => {},
};

const seen: string[] = [];
const handlers: TargetHandlers = {
  http: () => ({
    request: async (_req, res, admitted) => {
      seen.push(`http ${admitted.upstream.name} ${admitted.rest}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('proxied');
    },
  }),
  kubernetes: () => ({
    errorFormat: { contentType: 'application/x-status', document: (e) => ({ said: e.message }) },
    request: async () => {
      throw new PortcullisError('permission_denied', 'no');
    },
  }),
};

let gateway: HttpGateway;
beforeAll(async () => {
  gateway = await startHttpListener(ctx, handlers);
});
afterAll(async () => {
  await gateway.close();
});

const get = (path: string, token = 'good') => fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

describe('the HTTP listener routes by target type', () => {
  it("hands an admitted request to its type's handler", async () => {
    const res = await get('/api/v1/things');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('proxied');
    expect(seen).toContain('http api /v1/things');
  });

  it("writes a refusal in the target type's error format, before and after admission", async () => {
    const denied = await get('/cluster/api/v1/pods');
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type')).toBe('application/x-status');
    expect(await denied.json()).toEqual({ said: 'no' });
    const anonymous = await get('/cluster/api/v1/pods', 'bad');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/x-status');
  });

  it('serves no target type it was given no handler for', async () => {
    const res = await get('/tools/mcp');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('does not upgrade a target whose handler has no upgrade', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const url = new URL(gateway.url);
      const s = connect(Number(url.port), url.hostname, () => {
        s.write('GET /api/ws HTTP/1.1\r\nhost: x\r\nauthorization: Bearer good\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
      });
      let text = '';
      s.on('data', (c) => (text += c.toString('latin1')));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 501 /);
    expect(answer).toContain('target api is an HTTP target; the gateway does not proxy upgraded connections to it');
  });
});
