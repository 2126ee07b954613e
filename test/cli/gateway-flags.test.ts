/**
 * `portcullis gateway` with a wrong flag: one line naming the flag and what it accepts, exit code 2
 * (invalid argument), no stack trace, and nothing started. The gateway is pointed at a data
 * directory that must not appear, and at a PostgreSQL port this test holds: a gateway that got as
 * far as binding would report that port in use instead.
 */
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portcullis } from '../evidence-cli/cli.ts';

let dir: string;
let held: Server;
let heldPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-gw-flags-'));
  held = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  heldPort = (held.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => held.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe.concurrent('portcullis gateway refuses a wrong flag before it starts', () => {
  it.each([
    [['--http-port', 'abc'], "portcullis: --http-port must be a port number from 0 to 65535 (0 picks a free port) or off, not 'abc'"],
    [['--pg-port', '99999'], 'portcullis: --pg-port must be a port number from 0 to 65535 (0 picks a free port) or off, not 99999'],
    [['--drain', 'xyz'], "portcullis: --drain must be a duration such as 30s or 0s (a whole number with ms, s, m, h or d), not 'xyz'"],
    [['--evidence-durability', 'nope'], "portcullis: --evidence-durability must be fsync or write, not 'nope'"],
    [['--checkpoint-interval', '0'], 'portcullis: --checkpoint-interval must be a duration more than 0 and at most 1h, not 0s'],
  ])('%j', async (flags, message) => {
    const dataDir = join(dir, flags.join('_').replace(/\W/g, ''));
    // the flag under test comes last: it overrides the held --pg-port given before it
    const r = await portcullis(['gateway', '--policies', 'policies', '--data-dir', dataDir, '--pg-port', String(heldPort), '--http-port', 'off', '--admin-port', 'off', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+|this is a bug/);
    expect(r.stdout).toBe('');
    expect(existsSync(dataDir)).toBe(false);
  });
});
