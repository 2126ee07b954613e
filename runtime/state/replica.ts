/** A replica's name: stamped on every evidence record it writes, so it must be unique among live replicas. */
import { hostname } from 'node:os';
import { PortcullisError } from '../errors.ts';

/** hostname + pid: unique per live process without configuration, stable enough for a log line. */
export function defaultReplicaName(): string {
  return `${hostname()}-${process.pid}`;
}

export function checkReplicaName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/.test(name)) {
    throw new PortcullisError('invalid_argument', `replica name '${name}' must be 1-63 letters, digits, '.', '_', ':' or '-'`, {
      details: { hint: 'e.g. --replica gw-eu-1, or omit it for hostname-pid' },
    });
  }
  return name;
}
