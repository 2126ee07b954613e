/**
 * A throwaway certificate authority and server certificate for a local PostgreSQL, so TLS modes up
 * to verify-full can be exercised without any real PKI. Made with the openssl command, since
 * node:crypto cannot issue X.509 certificates.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PortcullisError } from '../errors.ts';

const run = promisify(execFile);

export interface LocalTlsFiles {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** PEM of the CA, for a client's `ca` option. */
  caPem: string;
}

/** Creates (or reuses) a CA and a server certificate for localhost / 127.0.0.1 in `dir`. */
export async function ensureLocalTls(dir: string): Promise<LocalTlsFiles> {
  const files = { dir, caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  if (!existsSync(files.caFile) || !existsSync(files.certFile) || !existsSync(files.keyFile)) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const ext = join(dir, 'server.ext');
    await writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
    try {
      await run('openssl', ['req', '-x509', ...key, '-days', '3650', '-subj', '/CN=Portcullis local CA', '-keyout', join(dir, 'ca.key'), '-out', files.caFile]);
      await run('openssl', ['req', ...key, '-subj', '/CN=localhost', '-keyout', files.keyFile, '-out', join(dir, 'server.csr')]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        join(dir, 'server.csr'),
        '-CA',
        files.caFile,
        '-CAkey',
        join(dir, 'ca.key'),
        '-CAcreateserial',
        '-days',
        '3650',
        '-extfile',
        ext,
        '-out',
        files.certFile,
      ]);
    } catch (err) {
      throw new PortcullisError('failed_precondition', `creating a local TLS certificate failed: ${(err as Error).message}`, {
        cause: err,
        details: { hint: 'the openssl command must be installed to start a local PostgreSQL with TLS' },
      });
    }
  }
  return { ...files, caPem: await readFile(files.caFile, 'utf8') };
}
