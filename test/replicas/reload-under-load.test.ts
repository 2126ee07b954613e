/**
 * Reload under load (issue 7): pgbench reads through the gateway while the policy bundle is
 * reloaded 100 times. Each reload swaps between two valid variants of one policy, so every reload
 * really compiles and swaps a different bundle. No transaction may fail, every reload must be
 * counted and recorded as `bundle.loaded` evidence, and a decision after the last reload must carry
 * the last revision. `bench/reload.ts` measures the TPS dip of the same scenario; this asserts only
 * correctness, never a timing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readEvidence } from '../../runtime/evidence/reader.ts';
import { startGateway, type Gateway } from '../fail-closed/fixture.ts';

const RELOADS = 100;

/** Two valid variants: a deny rule on tables the load never reads flips between them. */
function variant(i: number): string {
  return `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: reload-flip }
spec:
  subjects: [{ group: support }]
  targets: [shop-db]
  rules:
    - id: flip
      effect: deny
      actions: [select]
      resources: [${i % 2 ? 'reload_a' : 'reload_b'}]
`;
}

interface PgbenchRun {
  out: string;
  processed: number;
  failed: number;
  aborted: number;
}

function pgbench(env: NodeJS.ProcessEnv, script: string, args: string[]): Promise<PgbenchRun> {
  return new Promise((resolve) => {
    // A non-zero exit (aborted clients) is a result to assert on, not a crash.
    execFile('pgbench', ['-n', '-M', 'simple', '-f', script, ...args], { env, timeout: 60_000 }, (_err, stdout, stderr) => {
      const out = `${stdout}\n${stderr}`;
      resolve({
        out,
        processed: Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0),
        failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
        aborted: (out.match(/client \d+ aborted/g) ?? []).length,
      });
    });
  });
}

let gw: Gateway | undefined;
afterAll(async () => {
  await gw?.close();
});

describe('reload under load', () => {
  it('reloads 100 times during pgbench with no failed transaction, every reload recorded', async () => {
    const flipFile = (repo: string) => join(repo, 'policies', 'reload-flip.yaml');
    // No watcher: the test's own reload() calls are the only reloads, so the counts are exact.
    gw = await startGateway({ prepare: (repo) => writeFile(flipFile(repo), variant(0)), config: { watch: false } });
    const runtime = gw.runtime;
    const first = runtime.ctx.bundle();
    expect(first, JSON.stringify(runtime.status().lastReload)).toBeDefined();
    const before = runtime.status().reloads;

    const script = join(gw.dir, 'read.sql');
    await writeFile(script, '\\set id random(1, 5)\nselect name, price from products where id = :id\n');
    const env = await gw.env();

    // Back-to-back 2 s pgbench runs until the reloads are done: the load outlasts them however slow
    // the machine, and the test takes no longer than they do.
    let reloading = true;
    const load = (async () => {
      const runs: PgbenchRun[] = [];
      do runs.push(await pgbench(env, script, ['-c', '4', '-j', '2', '-T', '2']));
      while (reloading);
      return runs;
    })();
    // Reload only once the load is demonstrably flowing through the gateway.
    await expect.poll(() => runtime.ctx.recorder.activeSessions().length, { timeout: 5000, interval: 20 }).toBe(4);

    const startedAt = performance.now();
    const digests = [first!.revision.digest];
    const outcomes: { ok: boolean; errors?: string[] }[] = [];
    try {
      for (let i = 1; i <= RELOADS; i++) {
        await writeFile(flipFile(gw.repo), variant(i));
        outcomes.push(await runtime.reload());
        digests.push(runtime.ctx.bundle()!.revision.digest);
        await new Promise((r) => setTimeout(r, 5)); // let the load interleave with the reloads
      }
    } finally {
      reloading = false;
    }
    const reloadMs = performance.now() - startedAt;
    const runs = await load;
    const run = {
      out: runs.map((r) => r.out).join('\n'),
      processed: runs.reduce((n, r) => n + r.processed, 0),
      failed: runs.reduce((n, r) => n + r.failed, 0),
      aborted: runs.reduce((n, r) => n + r.aborted, 0),
    };
    if (process.env.PORTCULLIS_TEST_VERBOSE) console.log(JSON.stringify({ reloadMs: Math.round(reloadMs), runs: runs.length, processed: run.processed, failed: run.failed }));

    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    // Every reload swapped the bundle: the two variants alternate.
    expect(new Set(digests).size).toBe(2);
    for (let i = 1; i < digests.length; i++) expect(digests[i]).not.toBe(digests[i - 1]);

    for (const r of runs) expect(r.processed, r.out).toBeGreaterThan(0);
    expect(run.failed, run.out).toBe(0);
    expect(run.aborted, run.out).toBe(0);

    const after = runtime.status();
    expect(after.reloads.ok - before.ok).toBe(RELOADS);
    expect(after.reloads.rejected - before.rejected).toBe(0);
    expect(after.ready).toBe(true);

    // A statement after the last reload is decided by the last revision.
    const marker = `reload_${Math.random().toString(36).slice(2, 10)}`;
    const client = await gw.connect();
    await client.query(`select name, '${marker}' as tag from products where id = 1`);
    await client.end();

    const loaded: { digest: string; previous: string | null }[] = [];
    const stamped = new Set<string>();
    let markerDigest: string | undefined;
    for await (const r of readEvidence(join(gw.dataDir, 'evidence'), { types: ['bundle.loaded', 'decision'] })) {
      if (r.type === 'bundle.loaded') {
        const d = r.data as { revision: { digest: string }; previous: { digest: string } | null };
        loaded.push({ digest: d.revision.digest, previous: d.previous?.digest ?? null });
        continue;
      }
      const d = r.data as { request?: { statement?: { text?: string } }; decision: { revision: { digest: string } } };
      stamped.add(d.decision.revision.digest);
      if (d.request?.statement?.text?.includes(marker)) markerDigest = d.decision.revision.digest;
    }
    // The start-up load plus one record per reload, each naming the bundle it replaced.
    expect(loaded).toHaveLength(RELOADS + 1);
    expect(loaded.map((l) => l.digest)).toEqual(digests);
    expect(loaded.slice(1).map((l) => l.previous)).toEqual(digests.slice(0, -1));
    // Decisions during the load were stamped by the revisions that were live, and by both of them.
    expect(stamped).toEqual(new Set(digests));
    expect(markerDigest).toBe(digests.at(-1));
  }, 30_000);
});
