/**
 * `npm run bench -- --only evidence`: what recording a statement costs the gateway's main thread,
 * format v1 (two records, a hash each) beside format v2 (one record, a hash per batch, facts by
 * reference) in the same run. Eight sessions issue statements in lockstep the way the PostgreSQL
 * gateway records them (the previous statement's result, then the decision, staged); the store
 * writes with durability 'write' and no journal, so the numbers are encoding, hashing and the
 * write(2) into the page cache, not the disk's flush. Reported as medians, never asserted.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { compactLine, sealBatchBytes, sealRecord, GENESIS } from '../runtime/evidence/record.ts';
import { canonical } from '../runtime/encoding/canonical.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanonicalFragment, CanonicalWithSlot } from '../runtime/encoding/canonical.ts';
import { evidenceLogPath, FileEvidenceStore } from '../runtime/evidence/store.ts';
import { Recorder } from '../runtime/recording/recorder.ts';
import type { Decision } from '../runtime/engine/decision.ts';

type Variant = 'v1' | 'v2' | 'v2-template';
const VARIANTS: readonly { name: Variant; label: string }[] = [
  { name: 'v1', label: 'v1: decision + result, a hash each' },
  { name: 'v2', label: 'v2, call sites as today (decision by reference)' },
  { name: 'v2-template', label: 'v2 with the statement template hint' },
];

export interface EvidenceBenchRow {
  variant: Variant;
  label: string;
  /**
   * median wall µs per statement of the lockstep loop (Recorder, group commit, encode, hash, write
   * and the event-loop turns between them); noisy on a shared machine, read it beside cpu µs
   */
  usPerStatement: number;
  /** median CPU µs per statement (user + system, every thread of the process) */
  cpuUsPerStatement: number;
  bytesPerStatement: number;
  /** relative to v1 in the same run */
  ratio: number;
}

export interface EvidenceBenchResult {
  sessions: number;
  statementsPerRun: number;
  repeats: number;
  rows: EvidenceBenchRow[];
  /** the store's batch stage alone: encode the lines, hash, one write(2) per batch */
  stage: { format: 'v1' | 'v2'; usPerStatement: number; bytesPerStatement: number }[];
}

const revision = { commit: 'c0ffee0'.padEnd(40, '0'), dirty: false, digest: 'd'.repeat(64), loadedAt: '2026-11-25T03:00:00.000Z' };
/** about the size of a decision a policy with masking produces */
const decision = {
  effect: 'allow',
  rules: [
    { policy: 'agents-read', rule: 'read-orders', file: 'policies/agents.yaml', line: 12 },
    { policy: 'agents-read', rule: 'read-customers-masked', file: 'policies/agents.yaml', line: 31 },
  ],
  masks: [
    { kind: 'column', pattern: 'customers.email', strategy: 'hash', source: 'classification:pii' },
    { kind: 'column', pattern: 'customers.phone', strategy: 'redact', source: 'classification:pii' },
    { kind: 'column', pattern: 'customers.ssn', strategy: 'redact', source: 'classification:pii' },
  ],
  reason: 'allowed by agents-read/read-orders, agents-read/read-customers-masked',
  revision,
  maxRows: 1000,
} as unknown as Decision;
const analysis = {
  class: 'select',
  relations: [
    { schema: 'public', name: 'orders', access: 'read' },
    { schema: 'public', name: 'customers', access: 'read' },
  ],
  columns: [
    { relation: 'orders', column: 'id' },
    { relation: 'orders', column: 'total' },
    { relation: 'customers', column: 'name' },
    { relation: 'customers', column: 'email' },
  ],
  hasWhere: true,
};

export async function runOnce(variant: Variant, sessions: number, rounds: number): Promise<{ wallUs: number; cpuUs: number; bytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-evidence-'));
  try {
    const store = await FileEvidenceStore.open(dir, { format: variant === 'v1' ? 1 : 2, durability: 'write', journalBytes: 0, checkpointIntervalMs: 60_000 });
    const recorder = new Recorder(store);
    const encodedDecision = new CanonicalFragment(decision);
    const template = new CanonicalWithSlot({ text: '', ...analysis }, 'text');
    const ids: string[] = [];
    for (let s = 0; s < sessions; s++) {
      const { sessionId } = await recorder.startSession({
        identity: 'billing-agent',
        groups: ['agents'],
        target: 'orders-db',
        protocol: 'postgres',
        client: { address: '127.0.0.1', port: 40000 + s },
        revision,
      });
      ids.push(sessionId);
    }
    const subject = '{"groups":["agents"],"identity":"billing-agent"}';
    const sizeBefore = (await stat(evidenceLogPath(dir))).size;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let round = 1; round <= rounds; round++) {
      const written: Promise<unknown>[] = [];
      for (const sessionId of ids) {
        const text = `SELECT o.id, o.total, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${round}`;
        const at = new Date().toISOString();
        if (round > 1) void recorder.recordResult({ sessionId, seq: round - 1, status: 'ok', durationMs: 1, rows: 1, maskedValues: 1 });
        // What the PostgreSQL session passes today: the whole request as one fragment.
        const request = CanonicalFragment.ofCanonical(`{"at":${JSON.stringify(at)},"protocol":"postgres","statement":${template.fill(text).json},"subject":${subject},"target":"orders-db"}`);
        const staged = recorder.recordDecisionStaged({
          sessionId,
          request: request as never,
          decision,
          encodedDecision,
          ...(variant === 'v2-template' ? { statement: { template, text, at } } : {}),
        });
        written.push(staged.written);
      }
      await Promise.all(written);
    }
    const wallUs = (performance.now() - t0) * 1000;
    const cpu = process.cpuUsage(cpu0);
    await Promise.all(ids.map((sessionId) => recorder.endSession({ sessionId, reason: 'client-closed' })));
    await store.checkpoint();
    const bytes = (await stat(evidenceLogPath(dir))).size - sizeBefore;
    await store.close();
    return { wallUs, cpuUs: cpu.user + cpu.system, bytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The batch stage alone, with the store's own functions: v1 seals two records a statement (decision
 * and result) one hash each; v2 writes one line a statement (its result folded in, decision and
 * template by reference) and one seal a batch. Batches of `batch` statements, one write each.
 */
export function stageOnce(format: 'v1' | 'v2', path: string, statements: number, batch: number): { us: number; bytes: number } {
  const fd = openSync(path, 'w');
  const decisionJson = canonical(decision);
  const template = new CanonicalWithSlot({ text: '', ...analysis }, 'text');
  const subject = '{"groups":["agents"],"identity":"billing-agent"}';
  const sessionId = '5f0c3a52-8f3e-4c1e-9a61-2b7d9e4c1f00';
  let seq = 0;
  let prev = GENESIS;
  let bytes = 0;
  const t0 = performance.now();
  for (let done = 0; done < statements; done += batch) {
    const ts = new Date().toISOString();
    const lines: string[] = [];
    for (let i = 0; i < batch; i++) {
      const n = done + i + 1;
      const text = `SELECT o.id, o.total, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${n}`;
      const result = `{"durationMs":1,"maskedValues":1,"rows":1,"seq":${n - 1},"sessionId":"${sessionId}","status":"ok"}`;
      if (format === 'v1') {
        const r = sealRecord(++seq, ts, 'result', result, prev);
        lines.push(r.line);
        const d = sealRecord(
          ++seq,
          ts,
          'decision',
          `{"decision":${decisionJson},"request":{"at":"${ts}","protocol":"postgres","statement":${template.fill(text).json},"subject":${subject},"target":"orders-db"},"seq":${n},"sessionId":"${sessionId}"}`,
          r.hash,
        );
        lines.push(d.line);
        prev = d.hash;
      } else {
        lines.push(
          compactLine(
            ++seq,
            ts,
            'decision',
            `{"request":{"at":"${ts}","protocol":"postgres","statement":{"text":${JSON.stringify(text)}},"target":"orders-db"},"seq":${n},"sessionId":"${sessionId}"}`,
            '{"decision":1,"request.subject":2,"request.statement":3}',
            `[${result}]`,
          ),
        );
      }
    }
    let buf: Buffer;
    if (format === 'v1') {
      buf = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    } else {
      const records = Buffer.from(lines.join('\n'), 'utf8');
      let crcs = '';
      for (let at = 0; at <= records.length; ) {
        let nl = records.indexOf(10, at);
        if (nl === -1) nl = records.length;
        crcs += crc32(records.subarray(at, nl)).toString(16).padStart(8, '0');
        at = nl + 1;
      }
      const sealed = sealBatchBytes(records, ++seq, ts, seq - batch, crcs, prev);
      prev = sealed.hash;
      buf = Buffer.concat([records, Buffer.from(`\n${sealed.line}\n`, 'utf8')]);
    }
    writeSync(fd, buf);
    bytes += buf.length;
  }
  const us = (performance.now() - t0) * 1000;
  closeSync(fd);
  return { us: us / statements, bytes: bytes / statements };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function runEvidenceBench(opts: { repeats?: number; sessions?: number; rounds?: number } = {}): Promise<EvidenceBenchResult> {
  const repeats = opts.repeats ?? 5;
  const sessions = opts.sessions ?? 8;
  const rounds = opts.rounds ?? 1500;
  const statements = sessions * rounds;
  const samples = new Map<Variant, { wall: number[]; cpu: number[]; bytes: number[] }>(VARIANTS.map((v) => [v.name, { wall: [], cpu: [], bytes: [] }]));
  // warm-up, then variants interleaved so drift on a shared machine hits each alike
  for (const v of VARIANTS) await runOnce(v.name, sessions, Math.min(rounds, 300));
  for (let r = 0; r < repeats; r++) {
    for (const v of VARIANTS) {
      const m = await runOnce(v.name, sessions, rounds);
      const s = samples.get(v.name)!;
      s.wall.push(m.wallUs / statements);
      s.cpu.push(m.cpuUs / statements);
      s.bytes.push(m.bytes / statements);
    }
  }
  const stageDir = await mkdtemp(join(tmpdir(), 'pc-bench-evidence-stage-'));
  const stage: EvidenceBenchResult['stage'] = [];
  try {
    const runs = { v1: [] as { us: number; bytes: number }[], v2: [] as { us: number; bytes: number }[] };
    for (const f of ['v1', 'v2'] as const) stageOnce(f, join(stageDir, f), 4000, sessions);
    for (let r = 0; r < repeats; r++) for (const f of ['v1', 'v2'] as const) runs[f].push(stageOnce(f, join(stageDir, f), statements, sessions));
    for (const f of ['v1', 'v2'] as const) stage.push({ format: f, usPerStatement: round2(median(runs[f].map((x) => x.us))), bytesPerStatement: Math.round(median(runs[f].map((x) => x.bytes))) });
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
  const base = median(samples.get('v1')!.wall);
  const rows = VARIANTS.map((v) => {
    const s = samples.get(v.name)!;
    const us = median(s.wall);
    return { variant: v.name, label: v.label, usPerStatement: round2(us), cpuUsPerStatement: round2(median(s.cpu)), bytesPerStatement: Math.round(median(s.bytes)), ratio: round2(us / base) };
  });
  return { sessions, statementsPerRun: statements, repeats, rows, stage };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function formatEvidence(r: EvidenceBenchResult): string {
  const lines = [`evidence recording per statement (${r.sessions} sessions, ${r.statementsPerRun} statements a run, median of ${r.repeats}; durability write, no journal)`];
  lines.push(`  ${'format'.padEnd(50)} ${'µs/stmt'.padStart(8)} ${'cpu µs'.padStart(8)} ${'bytes'.padStart(6)} ${'vs v1'.padStart(6)}`);
  for (const row of r.rows) {
    lines.push(
      `  ${row.label.padEnd(50)} ${row.usPerStatement.toFixed(2).padStart(8)} ${row.cpuUsPerStatement.toFixed(2).padStart(8)} ${String(row.bytesPerStatement).padStart(6)} ${`${row.ratio.toFixed(2)}x`.padStart(6)}`,
    );
  }
  const v1 = r.stage.find((x) => x.format === 'v1')!;
  lines.push(`  the batch stage alone (encode, hash, one write per batch of ${r.sessions}):`);
  for (const x of r.stage)
    lines.push(
      `    ${x.format}: ${x.usPerStatement.toFixed(2)} µs/stmt, ${x.bytesPerStatement} bytes/stmt${x.format === 'v1' ? '' : ` (${(x.usPerStatement / v1.usPerStatement).toFixed(2)}x of v1)`}`,
    );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${formatEvidence(await runEvidenceBench())}\n`);
}
