/**
 * `npm run bench`: the benchmarks, reported and never asserted. A slow number is information for
 * the reader; only a component that cannot start at all makes the exit status non-zero.
 *
 *   tsx bench/run.ts [--only engine|postgres|freshness|http|lint|simulate|reload|evidence] [--duration 10] [--repeats 3] [--json] [--profile DIR] [--diagnose]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatEngine, runEngineBench } from './engine.ts';
import { formatPostgres, runPostgresBench } from './postgres.ts';
import { formatLint, runLintSuite } from './lint-suite.ts';
import { formatHttp, runHttpBench } from './http.ts';
import { benchSimulate, formatSimulate } from './simulate.ts';
import { formatReload, runReloadBench } from './reload.ts';
import { formatFreshness, runFreshnessBench } from './freshness.ts';
import { formatEvidence, runEvidenceBench } from './evidence.ts';

const usage = 'usage: npm run bench -- [--only engine|postgres|freshness|http|lint|simulate|reload|evidence] [--duration SECONDS] [--repeats N] [--clients N] [--json] [--profile DIR] [--diagnose]';
const suites = ['engine', 'postgres', 'freshness', 'http', 'lint', 'simulate', 'reload', 'evidence'] as const;
type Suite = (typeof suites)[number];

function options() {
  try {
    const { values } = parseArgs({
      options: {
        only: { type: 'string' },
        duration: { type: 'string', default: '10' },
        repeats: { type: 'string', default: '3' },
        clients: { type: 'string', default: '8' },
        json: { type: 'boolean', default: false },
        profile: { type: 'string' },
        diagnose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    const only = values.only as Suite | undefined;
    if (only !== undefined && !suites.includes(only)) throw new Error(`--only must be one of ${suites.join(', ')}`);
    const int = (name: string, v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number`);
      return n;
    };
    return {
      only,
      seconds: int('duration', values.duration!),
      repeats: int('repeats', values.repeats!),
      clients: int('clients', values.clients!),
      json: values.json!,
      profile: values.profile ? resolve(values.profile) : undefined,
      diagnose: values.diagnose!,
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const o = options();
  const wanted = (s: Suite) => o.only === undefined || o.only === s;
  const results: Record<string, unknown> = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version } };
  const failures: string[] = [];
  const print = (text: string) => {
    if (!o.json) process.stdout.write(`${text}\n\n`);
  };
  const attempt = async (name: Suite, run: () => Promise<void>) => {
    try {
      await run();
    } catch (err) {
      failures.push(name);
      results[name] = { error: (err as Error).message };
      process.stderr.write(`bench ${name}: could not run: ${(err as Error).message}\n`);
    }
  };

  if (wanted('engine')) {
    await attempt('engine', async () => {
      const r = await runEngineBench({ seconds: Math.max(1, Math.min(o.seconds, 10) / 2) });
      results.engine = r;
      print(formatEngine(r));
    });
  }
  if (wanted('postgres')) {
    await attempt('postgres', async () => {
      const r = await runPostgresBench({ seconds: o.seconds, repeats: o.repeats, clients: o.clients, threads: 2, scale: 10, ...(o.profile ? { profileDir: o.profile } : {}), diagnose: o.diagnose });
      results.postgres = r;
      print(formatPostgres(r));
    });
  }
  if (wanted('freshness')) {
    await attempt('freshness', async () => {
      const r = await runFreshnessBench();
      results.freshness = r;
      print(formatFreshness(r));
    });
  }
  if (wanted('http')) {
    await attempt('http', async () => {
      const r = await runHttpBench({ seconds: o.seconds, repeats: o.repeats, connections: o.clients, threads: 2 });
      results.http = r;
      print(formatHttp(r));
    });
  }
  if (wanted('lint')) {
    await attempt('lint', async () => {
      const r = await runLintSuite();
      if (!r) {
        if (!o.json) process.stderr.write('bench lint: skipped (bench/lint.ts does not exist yet)\n');
        results.lint = { skipped: 'bench/lint.ts does not exist' };
        return;
      }
      results.lint = r;
      print(formatLint(r));
    });
  }
  if (wanted('simulate')) {
    await attempt('simulate', async () => {
      const r = await benchSimulate({ repeats: Math.max(1, Math.min(o.repeats, 3)) });
      results.simulate = r;
      print(formatSimulate(r));
    });
  }
  if (wanted('reload')) {
    await attempt('reload', async () => {
      const r = await runReloadBench({ clients: 4, reloads: 100, rate: 10 });
      results.reload = r;
      print(formatReload(r));
    });
  }
  if (wanted('evidence')) {
    await attempt('evidence', async () => {
      const r = await runEvidenceBench({ repeats: Math.max(3, o.repeats) });
      results.evidence = r;
      print(formatEvidence(r));
    });
  }
  if (o.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
