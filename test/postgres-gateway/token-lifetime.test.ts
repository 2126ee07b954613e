/**
 * Token lifetime is bounded by the policy repo (maxTokenLifetime, default 24h; an Identity may set
 * its own), and a token issued in the future is refused: both through the wire, as an agent meets it.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { ensureDevIssuer } from '../../runtime/identity/dev-key.ts';
import { startGatewayFixture, type GatewayFixture } from './fixture.ts';

const SHORT_LIVED = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: short-lived }
spec: { kind: agent, match: { subject: short-lived }, groups: [testers], maxTokenLifetime: 1h }
`;

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture({ files: { 'identities/short-lived.yaml': SHORT_LIVED } });
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function connectWith(subject: string, password: string): Promise<string> {
  const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: subject, password, database: 'shop-db' });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT id FROM orders LIMIT 1');
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('token lifetime', () => {
  test('a token living longer than the default 24h is refused; one within it is accepted', async () => {
    expect(await connectWith('tester', await gw.token('tester', '3650d'))).toMatch(/^28P01: .*token lifetime of .* exceeds the 1d the policy repo allows for identity 'tester'/);
    expect(await connectWith('tester', await gw.token('tester', '23h'))).toBe('ok');
  });

  test("an identity's own maxTokenLifetime bounds its tokens", async () => {
    expect(await connectWith('short-lived', await gw.token('short-lived', '2h'))).toMatch(/^28P01: .*exceeds the 1h/);
    expect(await connectWith('short-lived', await gw.token('short-lived', '30m'))).toBe('ok');
  });

  test('a token issued in the future (beyond the clock skew) is refused', async () => {
    const issuer = await ensureDevIssuer(gw.dataDir);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: issuer.kid, typ: 'JWT' })
      .setIssuer(issuer.issuer)
      .setSubject('tester')
      .setAudience(issuer.audience)
      .setIssuedAt(now + 3600)
      .setExpirationTime(now + 5400)
      .setJti(randomUUID())
      .sign(issuer.privateKey);
    expect(await connectWith('tester', token)).toMatch(/^28P01: .*issued in the future/);
  });
});
