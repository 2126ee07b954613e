/**
 * Decision engine and SQL analysis throughput, in-process. The claim to check: a decision
 * against 10,000 rules costs within 2x of one against 10 (the index, not a scan, does the work).
 */
import { decide } from '../runtime/engine/decide.ts';
import { analyzeCached, analyzeSql } from '../runtime/sql/analyze.ts';
import { generateBundle } from './engine-bundle.ts';
import { fmt, median, progress, table } from './report.ts';

export interface EngineRow {
  rules: number;
  targets: number;
  policies: number;
  groups: number;
  files: number;
  compileMs: number;
  /** 16 distinct requests: the index's cost with caches warm, as for an agent repeating itself */
  hot: { decisionsPerSecond: number; microsPerDecision: number };
  /** 4,096 requests over every target: adds cache misses and cold regexes of a large bundle */
  spread: { decisionsPerSecond: number; microsPerDecision: number };
  /** share of decisions that were allow/review/deny: shows the mix hits real rules */
  effects: Record<string, number>;
}

export interface SqlRow {
  statement: string;
  parseMicros: number;
  cachedMicros: number;
}

export interface EngineResult {
  decisions: EngineRow[];
  ratio10kTo10: { hot: number; spread: number };
  withinTwoX: { hot: boolean; spread: boolean };
  sql: SqlRow[];
}

export const ruleCounts = [10, 1_000, 10_000] as const;

/** Ops per second of `fn`, median of `rounds` timed slices after a warm-up. */
function throughput(fn: (i: number) => void, seconds: number, rounds = 5): number {
  const slice = (seconds * 1000) / rounds;
  let i = 0;
  const warmUntil = performance.now() + Math.min(500, slice);
  while (performance.now() < warmUntil) for (let k = 0; k < 256; k++) fn(i++);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    // Reading the clock every call would cost more than a decision: check every 256.
    while (now - start < slice) {
      for (let k = 0; k < 256; k++) fn(i++);
      n += 256;
      now = performance.now();
    }
    rates.push(n / ((now - start) / 1000));
  }
  return median(rates);
}

const statements: Record<string, string> = {
  'pgbench -S': 'SELECT abalance FROM pgbench_accounts WHERE aid = $1',
  'join + filter': 'SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = $1 LIMIT 50',
  'CTE + aggregate':
    "WITH recent AS (SELECT customer_id, sum(total) AS spent FROM orders WHERE created_at > now() - interval '30 days' GROUP BY customer_id) SELECT c.name, r.spent FROM recent r JOIN customers c ON c.id = r.customer_id ORDER BY r.spent DESC LIMIT 10",
  'update with where': "UPDATE orders SET status = 'refunded', updated_at = now() WHERE id = $1 AND status = 'paid'",
  'insert returning': 'INSERT INTO orders (customer_id, total, status) VALUES ($1, $2, $3) RETURNING id',
};

export async function runEngineBench(opts: { seconds: number }): Promise<EngineResult> {
  const decisions: EngineRow[] = [];
  for (const count of ruleCounts) {
    progress(`engine: generating and compiling a bundle of ${fmt(count)} rules`);
    const g = generateBundle(count);
    const effects: Record<string, number> = { allow: 0, review: 0, deny: 0 };
    for (const r of g.requests) effects[decide(g.bundle, r).effect]!++;
    for (const k of Object.keys(effects)) effects[k] = effects[k]! / g.requests.length;
    progress(`engine: deciding against ${fmt(g.rules)} rules for ${opts.seconds}s`);
    let sink = 0;
    const measure = (n: number) => {
      const mask = n - 1;
      const rate = throughput((i) => {
        sink += decide(g.bundle, g.requests[i & mask]!).rules.length;
      }, opts.seconds / 2);
      return { decisionsPerSecond: rate, microsPerDecision: 1e6 / rate };
    };
    const hot = measure(16);
    const spread = measure(g.requests.length);
    if (sink < 0) throw new Error('unreachable: keeps the decisions from being optimised away');
    decisions.push({
      rules: g.rules,
      targets: g.targets,
      policies: g.policies,
      groups: g.groups,
      files: g.files,
      compileMs: g.compileMs,
      hot,
      spread,
      effects,
    });
  }
  const first = decisions[0]!;
  const last = decisions[decisions.length - 1]!;
  const ratio = {
    hot: last.hot.microsPerDecision / first.hot.microsPerDecision,
    spread: last.spread.microsPerDecision / first.spread.microsPerDecision,
  };

  const sql: SqlRow[] = [];
  const sqlSeconds = Math.max(0.5, opts.seconds / 4);
  for (const [name, text] of Object.entries(statements)) {
    progress(`engine: analysing "${name}"`);
    const parse = throughput(() => void analyzeSql(text), sqlSeconds);
    analyzeCached(text);
    const cached = throughput(() => void analyzeCached(text), sqlSeconds);
    sql.push({ statement: name, parseMicros: 1e6 / parse, cachedMicros: 1e6 / cached });
  }
  return { decisions, ratio10kTo10: ratio, withinTwoX: { hot: ratio.hot <= 2, spread: ratio.spread <= 2 }, sql };
}

export function formatEngine(r: EngineResult): string {
  const pct = (x: number | undefined) => `${Math.round((x ?? 0) * 100)}%`;
  const rows = r.decisions.map((d) => [
    fmt(d.rules),
    `${fmt(d.targets)} / ${fmt(d.policies)} / ${fmt(d.groups)}`,
    fmt(d.compileMs),
    fmt(d.hot.decisionsPerSecond),
    fmt(d.hot.microsPerDecision, 2),
    fmt(d.spread.decisionsPerSecond),
    fmt(d.spread.microsPerDecision, 2),
    `${pct(d.effects.allow)} / ${pct(d.effects.review)} / ${pct(d.effects.deny)}`,
  ]);
  const out = [
    'Decision engine: decide(bundle, request)',
    table(['rules', 'targets / policies / groups', 'compile ms', 'hot decisions/s', 'hot µs', 'spread decisions/s', 'spread µs', 'allow / review / deny'], rows),
    '',
    `10,000 rules vs 10 rules, time per decision: hot ${r.ratio10kTo10.hot.toFixed(2)}x (${r.withinTwoX.hot ? 'within' : 'NOT within'} the 2x bound), ` +
      `spread ${r.ratio10kTo10.spread.toFixed(2)}x (${r.withinTwoX.spread ? 'within' : 'NOT within'} 2x)`,
    '',
    'SQL analysis per statement (libpg-query parse + analysis; cached = LRU hit by statement text)',
    table(
      ['statement', 'analyzeSql µs', 'analyzeCached µs'],
      r.sql.map((s) => [s.statement, fmt(s.parseMicros, 1), fmt(s.cachedMicros, 2)]),
    ),
  ];
  return out.join('\n');
}
