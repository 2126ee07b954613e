/**
 * pgbench through the gateway in simple, extended and prepared mode (zero failed transactions), and
 * audit-before-action checked against the backend's own statement log: every statement the backend
 * ran for a session has a decision record written before it, and refused statements never ran.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { createScratchDatabase, pgInfo } from '../harness/postgres.ts';
import { startGatewayFixture, backendLogSince, logOffset, type GatewayFixture } from './fixture.ts';

const run = promisify(execFile);
let gw: GatewayFixture;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

beforeAll(async () => {
  scratch = await createScratchDatabase('gwbench');
  const info = pgInfo();
  await run('pgbench', ['-i', '-s', '1', '-q', '-n', '-h', info.host, '-p', String(info.port), '-U', info.user, scratch.name], { env: { ...process.env, PGPASSWORD: info.password } });
  gw = await startGatewayFixture({ scratch: scratch.name });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await scratch?.drop();
});

interface BenchResult {
  tps: number;
  processed: number;
  failed: number;
  out: string;
}

async function pgbench(env: NodeJS.ProcessEnv, args: string[]): Promise<BenchResult> {
  const { stdout, stderr } = await run('pgbench', ['-n', '-c', '4', '-j', '2', '-T', '2', ...args], { env, timeout: 30_000 });
  const out = `${stdout}\n${stderr}`;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    tps: num(/tps = ([\d.]+)/),
    processed: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/),
    out,
  };
}

describe('pgbench', () => {
  test.each([
    ['simple', ['-M', 'simple']],
    ['extended', ['-M', 'extended']],
    ['prepared', ['-M', 'prepared']],
    ['select-only prepared', ['-S', '-M', 'prepared']],
  ])('%s: no failed transactions', async (_name, args) => {
    const r = await pgbench(await gw.env('tester', 'scratch-db'), args);
    expect(r.failed, r.out).toBe(0);
    expect(r.processed, r.out).toBeGreaterThan(20);
    expect(r.out).not.toMatch(/ERROR|FATAL/);
    // informal: visible with --reporter=verbose; never asserted (no timing assertions in tests)
    console.log(`pgbench ${args.join(' ')} through the gateway: ${r.tps.toFixed(0)} tps`);
  });

  test('direct, for comparison (not asserted)', async () => {
    const info = pgInfo();
    const r = await pgbench({ ...process.env, PGHOST: info.host, PGPORT: String(info.port), PGUSER: info.user, PGPASSWORD: info.password, PGDATABASE: scratch.name }, ['-S', '-M', 'prepared']);
    expect(r.failed).toBe(0);
    console.log(`pgbench -S -M prepared direct: ${r.tps.toFixed(0)} tps`);
  });
});

/** `2024-05-01 12:00:00.123 UTC [pid] user@db LOG:  statement: ...` (continuation lines start with a tab) */
function statementsOf(log: string, pid: number): { at: number; text: string }[] {
  const out: { at: number; text: string }[] = [];
  let current: { at: number; text: string } | undefined;
  for (const line of log.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\S+) \[(\d+)\] \S* ?LOG: {2}(?:statement|execute [^:]*): (.*)$/.exec(line);
    if (m) {
      current = Number(m[3]) === pid ? { at: Date.parse(`${m[1]!.replace(' ', 'T')}Z`), text: m[4]! } : undefined;
      if (current) out.push(current);
    } else if (current && line.startsWith('\t')) {
      current.text += `\n${line.slice(1)}`;
    } else {
      current = undefined;
    }
  }
  return out;
}

describe('evidence before action', () => {
  test('every statement the backend ran for the session has an earlier decision record; refused ones never ran', async () => {
    const from = await logOffset();
    const c = new pg.Client(await gw.conn('tester', 'scratch-db'));
    await c.connect();
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    await c.query('SELECT id, email FROM customers WHERE id = 1');
    await c.query({ text: 'SELECT total FROM orders WHERE id = $1', values: [2] });
    await c.query({ name: 'evidence-named', text: 'SELECT status FROM orders WHERE id = $1', values: [3] });
    await c.query({ name: 'evidence-named', text: 'SELECT status FROM orders WHERE id = $1', values: [4] });
    await c.query("BEGIN; UPDATE orders SET status = 'evidence' WHERE id = 5; COMMIT");
    await c.query('DELETE FROM products WHERE id = 3').catch(() => {});
    await c.query('SELECT 1 AS evidence_never; DELETE FROM products WHERE id = 4').catch(() => {});
    await c.query('SELECT upper(email) AS evidence_never_2 FROM customers').catch(() => {});
    await c.end();
    // the server writes its log asynchronously; the refusals' stand-ins fail to parse, so they are
    // logged as errors, not as statements
    let log = '';
    await expect.poll(async () => (log = await backendLogSince(from)).split('STATEMENT:  PORTCULLIS_REFUSED').length - 1, { timeout: 5000 }).toBe(3);
    const ran = statementsOf(log, pid);
    expect(ran).toHaveLength(6);

    const decisions = (await gw.evidence(['decision'])).map((r) => ({ at: Date.parse(r.ts), text: String(r.data.request.statement.text), effect: r.data.decision.effect as string }));
    const texts = ran.map((r) => r.text);
    expect(texts.some((t) => t.includes('evidence_never'))).toBe(false);
    expect(texts.some((t) => t.includes('DELETE FROM products'))).toBe(false);
    for (const r of ran) {
      const parts = r.text
        .split(';')
        .map((p) => p.trim())
        .filter(Boolean);
      for (const part of parts) {
        const d = decisions.find((x) => x.effect === 'allow' && x.text.replace(/;$/, '').trim() === part);
        expect(d, `no decision record for '${part}'`).toBeDefined();
        // millisecond log timestamps: the record must not be later than the statement
        expect(d!.at, `decision for '${part}' recorded after the backend ran it`).toBeLessThanOrEqual(r.at + 1);
      }
    }
  });
});
