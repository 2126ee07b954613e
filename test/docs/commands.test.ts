/**
 * Every shell line in README.md and docs/*.md works when pasted. The fenced shell blocks are
 * extracted (doc-blocks.ts); blocks marked `doc-test: up` run against a started `portcullis up` (what
 * `npm start` runs), in a workspace where `.portcullis` is that environment's data directory; blocks
 * marked `doc-test: skip (why)` are listed with their reason; unmarked blocks run as they are.
 *
 * What the environment necessarily differs in is rewritten, and only that: the ports (6432, 8443,
 * 6480 become the free ones the environment got), the example approval ids (ap-1a2b3c4d5e6f and
 * ap-7c8d9e0f1a2b become two pending approvals opened for the purpose), and `npx portcullis` runs
 * the CLI directly (npx only adds start-up time). A line must exit 0, unless its trailing comment
 * says it is refused or held (Forbidden, 403, denied, refused, review): then it must still run (no exit 127 or 126,
 * no usage error). A line whose comment says "allowed" must not print a refusal.
 */
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsx, type RunningProcess } from '../harness/processes.ts';
import { freePort } from '../harness/postgres.ts';
import { docFiles, shellBlocks, type ShellBlock } from './doc-blocks.ts';

const sh = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const blocks: ShellBlock[] = docFiles(ROOT).flatMap((f) => shellBlocks(ROOT, f));

let ws: string;
let up: RunningProcess;
let env: NodeJS.ProcessEnv;
const rewrites: [RegExp, string][] = [];

beforeAll(async () => {
  ws = await mkdtemp(join(tmpdir(), 'pc-docs-'));
  // traversable, so the embedded cluster stays inside the temp dir (see clusterDir in up.ts)
  await chmod(ws, 0o711);
  for (const entry of await readdir(ROOT)) {
    if (['.portcullis', 'policies', '.git', '.scratch', 'test'].includes(entry)) continue;
    await symlink(join(ROOT, entry), join(ws, entry));
  }
  await cp(join(ROOT, 'policies'), join(ws, 'policies'), { recursive: true });
  // the demo upstreams' ports, moved to free ones so a developer's own `npm start` cannot collide
  for (const f of await readdir(join(ws, 'policies', 'targets'))) {
    const path = join(ws, 'policies', 'targets', f);
    let text = await readFile(path, 'utf8');
    for (const port of ['54329', '54330', '54331', '54332']) text = text.replaceAll(port, String(await freePort()));
    await writeFile(path, text);
  }
  const bin = join(ws, '.bin');
  await mkdir(bin);
  await writeFile(join(bin, 'portcullis'), `#!/bin/sh\nexec "${ROOT}/node_modules/.bin/tsx" "${ROOT}/cli/portcullis.ts" "$@"\n`, { mode: 0o755 });

  up = await startTsx(join(ROOT, 'cli/portcullis.ts'), ['up', '--data-dir', join(ws, '.portcullis'), '--pg-port', '0', '--http-port', '0', '--admin-port', '0', '--review-hold', '0s'], {
    readyLine: 'Stop with Ctrl-C.',
    timeoutMs: 120_000,
    cwd: ws,
  });
  const out = up.stdout();
  const pg = /PostgreSQL gateway on 127\.0\.0\.1:(\d+)/.exec(out)![1]!;
  const https = /HTTPS gateway on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  const admin = /Approvals, sessions and metrics: (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  env = { ...process.env, PATH: `${bin}:${ROOT}/node_modules/.bin:${process.env.PATH}`, PORTCULLIS_ADMIN: admin, PORTCULLIS_TOKEN: '', PORTCULLIS_STATE: '' };

  // Two pending approvals for the approvals block: the data agent's deletes, refused at once (--review-hold 0s).
  const ids: string[] = [];
  for (const id of [101, 102]) {
    const psql = await sh(
      'bash',
      ['-c', `PGPASSWORD="$(portcullis token issue --subject data-agent)" psql -X "host=127.0.0.1 port=${pg} dbname=shop-db user=agent sslmode=disable" -c 'delete from orders where id = ${id}'`],
      { cwd: ws, env },
    ).catch((e: { stdout: string; stderr: string }) => e);
    const found = /ap-[0-9a-f]{12}/.exec(psql.stderr ?? '');
    if (!found) throw new Error(`no approval id in: ${psql.stderr}`);
    ids.push(found[0]);
  }
  rewrites.push(
    [/npx portcullis /g, 'portcullis '],
    [/127\.0\.0\.1:6432\b/g, `127.0.0.1:${pg}`],
    [/\bport=6432\b/g, `port=${pg}`],
    [/https:\/\/127\.0\.0\.1:8443\b/g, https],
    [/http:\/\/127\.0\.0\.1:6480\b/g, admin],
    [/ap-1a2b3c4d5e6f/g, ids[0]!],
    [/ap-1a2b(?![0-9a-f])/g, ids[0]!.slice(0, 9)],
    [/ap-7c8d9e0f1a2b/g, ids[1]!],
  );
}, 180_000);

afterAll(async () => {
  await up?.stop();
  if (ws) await rm(ws, { recursive: true, force: true });
});

const refusal = /\b(Forbidden|403|denied|refused|review)\b/;
const environmentRefs = /127\.0\.0\.1:(6432|8443|6480)|port=6432|\.portcullis\/|ap-1a2b|ap-7c8d/;

describe('shell lines in README.md and docs/*.md', () => {
  it('finds the blocks, and every skip says why', () => {
    expect(blocks.length).toBeGreaterThan(5);
    for (const b of blocks.filter((x) => x.mode === 'skip')) expect(b.skipReason, `${b.file}:${b.line}`).toMatch(/\w{3,}/);
  });

  it('a block that needs the running environment is marked doc-test: up', () => {
    for (const b of blocks.filter((x) => x.mode === 'plain')) {
      for (const l of b.lines) expect(environmentRefs.test(l.text), `${b.file}:${l.line} refers to the running environment; mark its block <!-- doc-test: up -->`).toBe(false);
    }
  });

  it.concurrent.each(blocks.filter((b) => b.mode !== 'skip').map((b) => [`${b.file}:${b.line}`, b] as const))(
    '%s runs as written',
    async (_, block) => {
      const dir = await mkdtemp(join(ws, '.run-'));
      const script = block.lines
        .map((l, i) => {
          const text = rewrites.reduce((t, [re, to]) => t.replace(re, to), l.text);
          return `{ ${text}\n} >"${dir}/${i}.out" 2>&1 </dev/null; echo $? >"${dir}/${i}.rc"`;
        })
        .join('\n');
      await sh('bash', ['-c', script], { cwd: ws, env, timeout: 120_000 });
      for (const [i, l] of block.lines.entries()) {
        const rc = Number((await readFile(join(dir, `${i}.rc`), 'utf8')).trim());
        const output = await readFile(join(dir, `${i}.out`), 'utf8');
        const where = `${block.file}:${l.line}: ${l.text}\n${output}`;
        if (refusal.test(l.comment)) {
          expect([126, 127, 2], where).not.toContain(rc);
        } else {
          expect(rc, where).toBe(0);
        }
        if (/\ballowed\b/.test(l.comment)) expect(output, where).not.toMatch(/Forbidden|denied by rule|"status":403/);
      }
    },
    180_000,
  );
});
