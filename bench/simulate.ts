/**
 * `simulate` replay throughput: 100,000 recorded requests (PostgreSQL statements over the example
 * repo's identities and targets, plus HTTP and Kubernetes calls) replayed against the example repo
 * and a modified copy of it. The budget from the issue is 10 seconds.
 *
 * Two numbers, because the CLI pays for both: `replay()` alone, and parsing the recordings' JSON
 * lines (as `portcullis simulate --recordings` reads them) followed by the replay.
 *
 *   npx tsx bench/simulate.ts [--requests 100000] [--json]
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadBundle } from '../runtime/bundle/load.ts';
import type { Bundle } from '../runtime/bundle/model.ts';
import { decide } from '../runtime/engine/decide.ts';
import type { Request } from '../runtime/engine/request.ts';
import type { RecordedRequest } from '../runtime/recording/format.ts';
import { formatRecordings, parseRecordings } from '../runtime/recording/read.ts';
import { buildRequests } from '../runtime/requests/build.ts';
import { replay } from '../runtime/simulate/replay.ts';
import type { ReplayReport } from '../runtime/simulate/types.ts';
import { fmt, median, progress, table } from './report.ts';

export interface SimulateBenchOptions {
  /** recorded requests to replay; default 100,000 */
  requests?: number;
  /** timed repetitions, the median is reported; default 3 */
  repeats?: number;
  /** the policy repo used as the base revision; default the example repo */
  policies?: string;
  seed?: number;
}

export interface SimulateBenchResult {
  requests: number;
  sessions: number;
  mix: { postgres: number; http: number; kubernetes: number };
  /** distinct request shapes the generator drew from (statement texts differ in literals) */
  distinctShapes: number;
  budgetMs: number;
  /** replay() alone: both bundles decide every request */
  replay: { ms: number; statementsPerSecond: number; underBudget: boolean };
  /** JSON lines parsed into recordings, then replay(): what `portcullis simulate` pays */
  parseAndReplay: { ms: number; statementsPerSecond: number; underBudget: boolean; bytes: number };
  /** what changed between base and head, proving the modified copy really differs */
  changes: Record<string, number>;
  unchanged: number;
  runs: { replayMs: number[]; parseAndReplayMs: number[] };
}

const BUDGET_MS = 10_000;
const here = dirname(fileURLToPath(import.meta.url));

/** Edits that make the head a plausible policy PR: tighter in places, looser in one, a mask change. */
const headEdits: { file: string; from: string; to: string }[] = [
  // support may no longer read customers' contact table
  { file: 'policies/support.yaml', from: 'resources: [orders, customers, customer_contacts, products]', to: 'resources: [orders, customers, products]' },
  // the data agent sees redacted instead of hashed emails (a mask change)
  { file: 'policies/data.yaml', from: 'strategy: hash ', to: 'strategy: redact ' },
  // deletes of orders no longer need review: newly allowed
  {
    file: 'policies/data.yaml',
    from: 'effect: review\n      actions: [delete]\n      resources: [orders]\n      review:\n        approvers: { groups: [dba], count: 1 }\n        grant: { ttl: 30m }',
    to: 'effect: allow\n      actions: [delete]\n      resources: [orders]',
  },
  // secrets are now refused outright: newly denied
  {
    file: 'policies/platform.yaml',
    from: 'id: secrets-need-sre\n      effect: review\n      actions: [get, list, watch]\n      resources: [secrets]\n      review:\n        approvers: { groups: [sre] }',
    to: 'id: secrets-need-sre\n      effect: deny\n      actions: [get, list, watch]\n      resources: [secrets]',
  },
];

/** A tiny deterministic PRNG so two runs replay the same traffic. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

type Shape = { as: string; target: string; sql?: string; http?: string; k8s?: string };

/** Statement templates per identity; `#` becomes a number so texts vary like real traffic. */
const sqlTemplates: Record<string, string[]> = {
  'support-agent': [
    'select id, total, status from orders where customer_id = #',
    'select o.id, o.total, c.email from orders o join customers c on c.id = o.customer_id where o.id = #',
    'select name, email, phone from customers where id = #',
    'select email from customer_contacts where customer_id = #',
    'select id, name, price from products where price < # order by price limit 20',
    "select count(*) from orders where status = 'paid' and customer_id = #",
    'with recent as (select customer_id, sum(total) as spent from orders where id > # group by customer_id) select c.name, r.spent from recent r join customers c on c.id = r.customer_id',
    "update orders set status = 'refunded' where id = #",
    'delete from orders where id = #',
    'begin',
    'commit',
    'set statement_timeout = #',
  ],
  'data-agent': [
    'select id, customer_id, total from orders where id > # limit 100',
    'select id, email, ssn from customers where id = #',
    'select c.email, count(o.id) from customers c join orders o on o.customer_id = c.id where c.id > # group by c.email',
    "update orders set status = 'shipped' where id = #",
    "insert into orders (customer_id, total, status) values (#, 10, 'paid')",
    'delete from orders where id = #',
    "update orders set status = 'shipped'",
    'drop table orders',
    'vacuum orders',
    'begin',
    'commit',
  ],
  'ops-agent': ['select 1', 'select id from orders where id = #'],
};

const httpTemplates = ['GET /invoices/2026/# ?limit=50', 'GET /customers/#', 'POST /refunds', 'DELETE /invoices/#', 'GET /invoices/#?limit=5000'];
const k8sTemplates = [
  'list pods -n shop',
  'get pods web-# -n shop',
  'get pods/log web-# -n shop',
  'list deployments -n shop-staging',
  'get secrets db-password -n shop',
  'create pods/exec web-# -n shop',
  'delete pods web-# -n shop',
  'list pods -n kube-system',
];

function shapes(random: () => number, perTemplate: number): Shape[] {
  const fill = (t: string) => t.replace(/#/g, () => String(1 + Math.floor(random() * 100_000))).replace(' ?', '?');
  const out: Shape[] = [];
  for (const [as, templates] of Object.entries(sqlTemplates)) {
    for (const t of templates) for (let i = 0; i < (t.includes('#') ? perTemplate : 1); i++) out.push({ as, target: 'shop-db', sql: fill(t) });
  }
  for (const t of httpTemplates) for (let i = 0; i < (t.includes('#') ? perTemplate : 1); i++) out.push({ as: 'support-agent', target: 'billing-api', http: fill(t) });
  for (const t of k8sTemplates) {
    for (let i = 0; i < (t.includes('#') ? perTemplate : 1); i++) {
      out.push({ as: random() < 0.8 ? 'ops-agent' : 'support-agent', target: 'k8s-prod', k8s: fill(t) });
    }
  }
  return out;
}

/** Recordings as a gateway would have written them: sessions of consecutive requests by one identity. */
export function generateRecordings(base: Bundle, count: number, seed = 42): { recordings: RecordedRequest[]; distinct: number; sessions: number } {
  const random = rng(seed);
  const all = shapes(random, 40);
  const byProtocol = {
    postgres: all.filter((s) => s.sql !== undefined),
    http: all.filter((s) => s.http !== undefined),
    kubernetes: all.filter((s) => s.k8s !== undefined),
  };
  // Each shape is analysed once (the gateway recorded the analysed statement, not raw SQL).
  const built = new Map<Shape, Request>();
  const requestOf = (s: Shape): Request => {
    let r = built.get(s);
    if (!r) {
      r = buildRequests(base, { ...s, at: '2030-01-01T00:00:00.000Z' })[0]!;
      built.set(s, r);
    }
    return r;
  };
  const recordings: RecordedRequest[] = [];
  const start = Date.parse('2030-01-01T00:00:00Z');
  let sessions = 0;
  while (recordings.length < count) {
    sessions++;
    const sessionId = `bench-${sessions}`;
    const roll = random();
    const pool = roll < 0.7 ? byProtocol.postgres : roll < 0.85 ? byProtocol.http : byProtocol.kubernetes;
    const identity = pool[Math.floor(random() * pool.length)]!.as;
    const mine = pool.filter((s) => s.as === identity);
    const length = 5 + Math.floor(random() * 30);
    for (let seq = 1; seq <= length && recordings.length < count; seq++) {
      const template = requestOf(mine[Math.floor(random() * mine.length)]!);
      const at = new Date(start + recordings.length * 250).toISOString();
      const request = { ...template, at } as Request;
      recordings.push({ sessionId, seq, request, decision: decide(base, request) });
    }
  }
  return { recordings, distinct: built.size, sessions };
}

async function modifiedCopy(from: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-simulate-'));
  await cp(from, dir, { recursive: true });
  for (const edit of headEdits) {
    const path = join(dir, edit.file);
    const text = await readFile(path, 'utf8');
    if (!text.includes(edit.from)) throw new Error(`bench/simulate.ts: ${edit.file} no longer contains ${JSON.stringify(edit.from)}; update headEdits`);
    await writeFile(path, text.replace(edit.from, edit.to));
  }
  return dir;
}

export async function benchSimulate(opts: SimulateBenchOptions = {}): Promise<SimulateBenchResult> {
  const count = opts.requests ?? 100_000;
  const repeats = opts.repeats ?? 3;
  const policies = resolve(opts.policies ?? join(here, '..', 'policies'));
  progress(`simulate: loading ${policies} and a modified copy`);
  const base = await loadBundle(policies);
  const headDir = await modifiedCopy(policies);
  try {
    const head = await loadBundle(headDir);
    progress(`simulate: generating ${fmt(count)} recorded requests`);
    const { recordings, distinct, sessions } = generateRecordings(base, count, opts.seed);
    const text = formatRecordings(recordings);
    const mix = { postgres: 0, http: 0, kubernetes: 0 };
    for (const r of recordings) if (r.request.protocol in mix) mix[r.request.protocol as keyof typeof mix]++;

    // A warm-up pass so the first timed run does not pay for JIT compilation alone.
    replay(base, head, recordings.slice(0, 5_000));
    const replayMs: number[] = [];
    const parseAndReplayMs: number[] = [];
    let report: ReplayReport | undefined;
    for (let i = 0; i < repeats; i++) {
      progress(`simulate: run ${i + 1}/${repeats}`);
      let t = performance.now();
      report = replay(base, head, recordings);
      replayMs.push(performance.now() - t);
      t = performance.now();
      replay(base, head, parseRecordings(text, 'bench'));
      parseAndReplayMs.push(performance.now() - t);
    }
    const rate = (ms: number) => count / (ms / 1000);
    const r = median(replayMs);
    const p = median(parseAndReplayMs);
    return {
      requests: count,
      sessions,
      mix,
      distinctShapes: distinct,
      budgetMs: BUDGET_MS,
      replay: { ms: Math.round(r), statementsPerSecond: Math.round(rate(r)), underBudget: r < BUDGET_MS },
      parseAndReplay: { ms: Math.round(p), statementsPerSecond: Math.round(rate(p)), underBudget: p < BUDGET_MS, bytes: Buffer.byteLength(text) },
      changes: Object.fromEntries(report!.groups.map((g) => [g.kind, g.count])),
      unchanged: report!.unchanged,
      runs: { replayMs: replayMs.map(Math.round), parseAndReplayMs: parseAndReplayMs.map(Math.round) },
    };
  } finally {
    await rm(headDir, { recursive: true, force: true });
  }
}

export function formatSimulate(r: SimulateBenchResult): string {
  const verdict = (ok: boolean) => (ok ? 'under budget' : 'OVER BUDGET');
  return [
    `Simulate replay: ${fmt(r.requests)} recorded requests (${fmt(r.mix.postgres)} PostgreSQL, ${fmt(r.mix.http)} HTTP, ${fmt(r.mix.kubernetes)} Kubernetes; ${fmt(r.sessions)} sessions, ${fmt(r.distinctShapes)} distinct shapes), base = example repo, head = a modified copy`,
    table(
      ['phase', 'ms (median)', 'statements/s', `budget ${fmt(r.budgetMs)} ms`],
      [
        ['replay()', fmt(r.replay.ms), fmt(r.replay.statementsPerSecond), verdict(r.replay.underBudget)],
        [`parse ${fmt(r.parseAndReplay.bytes / 1e6, 1)} MB JSONL + replay()`, fmt(r.parseAndReplay.ms), fmt(r.parseAndReplay.statementsPerSecond), verdict(r.parseAndReplay.underBudget)],
      ],
    ),
    `changes found: ${Object.entries(r.changes)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ')}; unchanged ${fmt(r.unchanged)}`,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, repeats: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
  const result = await benchSimulate({
    ...(values.requests ? { requests: Number(values.requests) } : {}),
    ...(values.repeats ? { repeats: Number(values.repeats) } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatSimulate(result)}\n`);
  process.exitCode = result.parseAndReplay.underBudget ? 0 : 1;
}
