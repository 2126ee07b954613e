/**
 * The README's start command, as a new user runs it: `portcullis up`, then the printed psql, curl
 * and kubectl lines. Ports of the example targets are moved to free ones so a developer's own
 * `npm start` cannot collide with the test.
 */
import { describe, expect, it } from 'vitest';
import { chmod, cp, mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTsx } from '../harness/processes.ts';
import { freePort } from '../harness/postgres.ts';

const sh = promisify(execFile);

async function retarget(dir: string): Promise<void> {
  const targets = join(dir, 'targets');
  for (const f of await readdir(targets)) {
    let text = await readFile(join(targets, f), 'utf8');
    for (const port of ['54329', '54330', '54331', '54332']) text = text.replaceAll(port, String(await freePort()));
    await writeFile(join(targets, f), text);
  }
}

const line = (out: string, re: RegExp) => {
  const found = out.split('\n').find((l) => re.test(l));
  if (!found) throw new Error(`no line matching ${re} in:\n${out}`);
  return found.replace(/\s+#.*$/, '').trim();
};

describe('portcullis up', () => {
  it('starts everything and its printed lines show allowed, masked, denied and review outcomes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-up-'));
    // traversable, so the embedded cluster stays inside the temp dir (see clusterDir in up.ts)
    await chmod(dir, 0o711);
    await cp('policies', join(dir, 'policies'), { recursive: true });
    await retarget(join(dir, 'policies'));
    const up = await startTsx('cli/portcullis.ts', ['up', '--policies', join(dir, 'policies'), '--data-dir', join(dir, 'data'), '--pg-port', '0', '--http-port', '0', '--admin-port', '0'], {
      readyLine: 'Stop with Ctrl-C.',
      timeoutMs: 60_000,
    });
    const out = up.stdout();
    const [supportPsql, dataPsql] = out
      .split('\n')
      .filter((l) => l.includes('psql "host='))
      .map((l) => l.trim());
    expect(supportPsql).toBeDefined();
    // Every printed token line works with this data directory (its dev issuer key lives there).
    const tokenLines = out.split('\n').filter((l) => l.includes('token issue'));
    expect(tokenLines.length).toBeGreaterThan(0);
    for (const l of tokenLines) expect(l).toContain(`--data-dir ${join(dir, 'data')}`);

    const psql = async (cmd: string, sql: string) => {
      const r = await sh('bash', ['-c', `${cmd} -X -v ON_ERROR_STOP=0 -c "${sql}"`]).catch((e: { stdout: string; stderr: string }) => e);
      return `${r.stdout}${r.stderr}`;
    };
    const masked = await psql(supportPsql!, 'select id, name, email, ssn from customers order by id limit 1');
    expect(masked).toContain('a***@example.com');
    expect(masked).toContain('***');
    expect(masked).not.toContain('ada.lovelace@example.com');
    expect(await psql(supportPsql!, "update orders set status = 'refunded' where id = 1")).toContain('denied by rule support-read/no-writes');
    expect(await psql(supportPsql!, 'select upper(ssn) from customers')).toContain('flows into an expression');
    // A new user's first look around: a health check and psql's catalog commands.
    expect(await psql(supportPsql!, 'select 1 as one')).toMatch(/one\s*\n-+\s*\n\s*1/);
    expect(await psql(supportPsql!, '\\dt')).toMatch(/customers\s*\|\s*table/);
    expect(await psql(supportPsql!, '\\d customers')).toContain('Table "public.customers"');
    // The README's review flow: the statement waits, an approver approves, the statement completes.
    const held = psql(dataPsql!, "delete from orders where status = 'cancelled'");
    const admin = line(out, /^Approvals, sessions and metrics: /).match(/http:\/\/[^\s]+/)![0];
    const alice = (await sh('npx', ['tsx', 'cli/portcullis.ts', 'token', 'issue', '--subject', 'alice', '--data-dir', join(dir, 'data')])).stdout.trim();
    const approvals = ['tsx', 'cli/portcullis.ts', 'approvals'];
    let pending: { id: string }[] = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      pending = JSON.parse((await sh('npx', [...approvals, 'list', '--status', 'pending', '--format', 'json', '--admin', admin, '--token', alice])).stdout).approvals;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pending).toHaveLength(1);
    await sh('npx', [...approvals, 'approve', pending[0]!.id, '--admin', admin, '--token', alice]);
    const completed = await held;
    expect(completed).toMatch(/NOTICE: {2}portcullis: waiting up to 2m for approval ap-[0-9a-f]+ by 1 of dba/);
    expect(completed).toContain('DELETE');
    expect(await psql(dataPsql!, 'drop table orders')).toContain('denied by rule agents-baseline/no-ddl');

    const token = line(out, /^\s*TOKEN='/);
    const curlGet = line(out, /curl .*invoices\/2026/);
    const curlDelete = line(out, /curl .*-X DELETE/);
    const invoices = (await sh('bash', ['-c', `${token}; ${curlGet}`], { cwd: process.cwd() })).stdout;
    expect(invoices).toContain('a***@example.com');
    expect(invoices).not.toContain('ada.lovelace@example.com');
    expect((await sh('bash', ['-c', `${token}; ${curlDelete}`])).stdout).toContain('billing-support/no-deletes');

    const pods = await sh('bash', ['-c', line(out, /kubectl .* get pods/)]);
    expect(pods.stdout).toContain('web-1');
    const del = await sh('bash', ['-c', line(out, /kubectl .* delete pod/)]).catch((e: { stderr: string }) => e);
    expect(del.stderr).toContain('Forbidden');

    const mcp = await sh('bash', ['-c', `${token}; ${line(out, /NODE_EXTRA_CA_CERTS=.*mcp-agent\.ts/)}`]);
    expect(mcp.stdout).toContain('tools I may call: lookup_order, search_docs');
    expect(mcp.stdout).toMatch(/lookup_order: .*a\*\*\*@example\.com/);
    expect(mcp.stdout).not.toContain('ada@example.com');
    expect(mcp.stdout).toMatch(/run_sql: .*denied by rule/);

    await up.stop();
    expect(await up.exited).toBe(0);
    await rm(dir, { recursive: true, force: true });
    // start-up alone may take a minute on a loaded machine (its ready wait allows 60 s)
  }, 240_000);
});
