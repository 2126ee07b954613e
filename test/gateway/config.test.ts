/**
 * GatewayConfig: one defaults object, filled in by resolveGatewayConfig, and every flag checked by
 * parseGatewayFlags with an error that names the flag and what it accepts.
 */
import { describe, expect, it } from 'vitest';
import { gatewayDefaults, parseGatewayFlags, resolveGatewayConfig } from '../../runtime/gateway/config.ts';
import { PortcullisError } from '../../runtime/errors.ts';

describe('resolveGatewayConfig', () => {
  it('fills every default from gatewayDefaults', () => {
    expect(resolveGatewayConfig({})).toEqual({
      policies: 'policies',
      watch: true,
      dataDir: '.portcullis',
      host: '127.0.0.1',
      pgPort: 6432,
      httpPort: 8443,
      adminPort: 6480,
      plaintext: 'loopback',
      reviewHoldMs: 0,
      evidence: { durability: 'fsync', journalMiB: 16, checkpointIntervalMs: 1000 },
      drainMs: 30_000,
    });
  });

  it('gives a git source its branch and poll defaults', () => {
    expect(resolveGatewayConfig({ git: { url: 'https://example.com/p.git' } }).git).toEqual({ url: 'https://example.com/p.git', ...gatewayDefaults.git });
  });

  it('keeps what is given, and parsing no flags gives the same config', () => {
    const c = resolveGatewayConfig({ pgPort: 0, httpPort: 'off', evidence: { durability: 'write' }, drainMs: 0 });
    expect(c).toMatchObject({ pgPort: 0, httpPort: 'off', adminPort: 6480, evidence: { durability: 'write', journalMiB: 16 }, drainMs: 0 });
    expect(parseGatewayFlags({}, {})).toEqual(resolveGatewayConfig({}));
  });

  it('is idempotent: a resolved config resolves to itself', () => {
    const c = parseGatewayFlags(
      { git: 'r.git', 'tls-cert': 'c', 'tls-key': 'k', issuer: 'https://idp', audience: 'a', 'evidence-key': 'k.pem', state: 'postgres://h/db', replica: 'r1', 'approval-webhook': 'https://hooks/x' },
      {},
    );
    expect(resolveGatewayConfig(c)).toEqual(c);
  });

  it('refuses wrong typed values, naming the flag', () => {
    expect(() => resolveGatewayConfig({ httpPort: 70000 })).toThrow(/--http-port must be a port number from 0 to 65535 .* or off, not 70000/);
    expect(() => resolveGatewayConfig({ evidence: { checkpointIntervalMs: 0 } })).toThrow(/--checkpoint-interval must be a duration more than 0 and at most 1h/);
    expect(() => resolveGatewayConfig({ state: { postgres: '', replica: 'a' } })).toThrow(/--replica needs --state/);
  });
});

describe('parseGatewayFlags', () => {
  it('turns strings into typed values', () => {
    const c = parseGatewayFlags(
      { 'pg-port': '0', 'http-port': 'off', 'review-hold': '2m', drain: '0s', 'evidence-journal': '0', 'checkpoint-interval': '500ms', git: 'repo.git', poll: '1m', 'no-watch': true },
      {},
    );
    expect(c).toMatchObject({
      pgPort: 0,
      httpPort: 'off',
      reviewHoldMs: 120_000,
      drainMs: 0,
      watch: false,
      evidence: { journalMiB: 0, checkpointIntervalMs: 500 },
      git: { url: 'repo.git', pollMs: 60_000, branch: 'main' },
    });
  });

  it('takes the state database from PORTCULLIS_STATE', () => {
    expect(parseGatewayFlags({}, { PORTCULLIS_STATE: 'postgres://u@h/db' }).state).toEqual({ postgres: 'postgres://u@h/db' });
  });

  it.each([
    [{ 'http-port': 'abc' }, "--http-port must be a port number from 0 to 65535 (0 picks a free port) or off, not 'abc'"],
    [{ 'pg-port': '99999' }, '--pg-port must be a port number from 0 to 65535 (0 picks a free port) or off, not 99999'],
    [{ 'admin-port': '-1' }, "--admin-port must be a port number from 0 to 65535 (0 picks a free port) or off, not '-1'"],
    [{ drain: 'xyz' }, "--drain must be a duration such as 30s or 0s (a whole number with ms, s, m, h or d), not 'xyz'"],
    [{ 'review-hold': '5 minutes' }, "--review-hold must be a duration such as 0s, 30s or 2m (a whole number with ms, s, m, h or d), not '5 minutes'"],
    [{ 'evidence-durability': 'nope' }, "--evidence-durability must be fsync or write, not 'nope'"],
    [{ 'checkpoint-interval': '0' }, '--checkpoint-interval must be a duration more than 0 and at most 1h, not 0s'],
    [{ 'checkpoint-interval': '2h' }, '--checkpoint-interval must be a duration more than 0 and at most 1h, not 2h'],
    [{ 'evidence-journal': '1.5' }, "--evidence-journal must be a whole number of MiB from 0 to 4096, not '1.5'"],
    [{ plaintext: 'sometimes' }, "--plaintext must be loopback, always or never, not 'sometimes'"],
    [{ 'tls-cert': 'c.pem' }, '--tls-cert and --tls-key go together'],
    [{ issuer: 'https://idp' }, '--issuer and --audience go together'],
    [{ replica: 'a' }, '--replica needs --state'],
    [{ git: 'r.git', poll: 'often' }, '--poll must be a duration such as 10s'],
  ])('%j is refused: %s', (flags, message) => {
    let thrown: unknown;
    try {
      parseGatewayFlags(flags, {});
    } catch (err) {
      thrown = err;
    }
    expect(PortcullisError.is(thrown, 'invalid_argument')).toBe(true);
    expect((thrown as Error).message).toContain(message);
  });
});
