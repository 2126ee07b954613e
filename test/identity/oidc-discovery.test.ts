/**
 * A real OpenID Connect provider (oidc-provider, the certified Node.js implementation) issues
 * client-credentials access tokens to an agent; the gateway, given only --issuer and --audience,
 * finds the key set by discovery and admits the agent over the PostgreSQL wire. No hand-made JWKS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGateway, type RunningGateway } from '../../runtime/gateway/start.ts';
import { discoverIssuer } from '../../runtime/identity/discovery.ts';
import { harnessBackend, policyRepo } from '../fail-closed/fixture.ts';

const AUDIENCE = 'urn:portcullis:test';
let server: Server;
let issuer: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-oidc-'));
  server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    cookies: { keys: ['a-test-cookie-key'] },
    ttl: { ClientCredentials: 600 },
    clients: [{ client_id: 'support-agent', client_secret: 'a-test-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'db', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 600 }),
      },
    },
  });
  server.on('request', provider.callback());
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function clientCredentialsToken(): Promise<string> {
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('support-agent:a-test-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: AUDIENCE, scope: 'db' }),
  });
  const body = (await r.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.access_token;
}

describe('OIDC discovery', () => {
  test('the key set is found from --issuer, and an access token from the provider opens a PostgreSQL session', async () => {
    expect((await discoverIssuer(issuer)).jwksUri).toBe(`${issuer}/jwks`);
    const repo = await policyRepo(dir, harnessBackend());
    let gw: RunningGateway | undefined;
    try {
      gw = await startGateway({ policies: repo, dataDir: join(dir, 'data'), pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false, identity: { issuer, audience: AUDIENCE } }, { log: () => {} });
      const token = await clientCredentialsToken();
      expect(token.split('.')).toHaveLength(3);
      const c = new pg.Client({ host: '127.0.0.1', port: gw.pgPort!, user: 'support-agent', password: token, database: 'shop-db' });
      await c.connect();
      try {
        expect((await c.query('SELECT id FROM orders ORDER BY id LIMIT 1')).rows).toEqual([{ id: 1 }]);
      } finally {
        await c.end();
      }
    } finally {
      await gw?.stop();
    }
  });

  test('a discovery document naming another issuer is refused', async () => {
    await expect(discoverIssuer(`${issuer}/`)).rejects.toThrow(/is for issuer "http:\/\/127\.0\.0\.1:\d+", not/);
  });
});
