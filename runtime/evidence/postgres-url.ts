/** The state database's URL in messages, and which connection failures are configuration, not outages. */
import { PortcullisError } from '../errors.ts';

/** `host:port/database`: enough to find the server, never the password. */
export function describeStateUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new PortcullisError('invalid_argument', 'the state database must be a postgres:// URL', { cause, details: { hint: 'e.g. postgres://portcullis:PASSWORD@db.internal:5432/portcullis' } });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new PortcullisError('invalid_argument', `the state database must be a postgres:// URL, not ${u.protocol}//`);
  }
  return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
}

/**
 * SQLSTATEs a retry will not fix: bad credentials (28), a missing database (3D000), no privilege to
 * create the tables (42501). Anything else (refused, reset, timed out, shutting down) is an outage.
 */
export function isConfigurationError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('28') || code === '3D000' || code === '42501';
}
