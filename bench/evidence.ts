/**
 * `npm run bench -- --only evidence`: what recording a statement costs the gateway's main thread,
 * format v1 (two records, a hash each) beside format v2 (one record, a hash per batch, facts by
 * reference) in the same run. Eight sessions issue statements in lockstep the way the PostgreSQL
 * gateway records them (the previous statement's result, then the decision, staged); the store
 * writes with durability 'write' and no journal, so the numbers are encoding, hashing and the
 * write(2) into the page cache, not the disk's flush. Reported as medians, never asserted.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanonicalFragment, CanonicalWithSlot } from '../runtime/evidence/canonical.ts';
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
  /** median wall µs per statement (main thread: Recorder, group commit, encode, hash, write) */
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
  relations: [{ schema: 'public', name: 'orders', access: 'read' }, { schema: 'public', name: 'customers', access: 'read' }],
  columns: [{ relation: 'orders', column: 'id' }, { relation: 'orders', column: 'total' }, { relation: 'customers', column: 'name' }, { relation: 'customers', column: 'email' }],
  hasWhere: true,
};

async function runOnce(variant: Variant, sessions: number, rounds: number): Promise<{ wallUs: number; cpuUs: number; bytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-evidence-'));
  try {
    const store = await FileEvidenceStore.open(dir, { format: variant === 'v1' ? 1 : 2, durability: 'write', journalBytes: 0, checkpointIntervalMs: 60_000 });
    const recorder = new Recorder(store);
    const encodedDecision = new CanonicalFragment(decision);
    const template = new CanonicalWithSlot({ text: '', ...analysis }, 'text');
    const ids: string[] = [];
    for (let s = 0; s < sessions; s++) {
      const { sessionId } = await recorder.startSession({ identity: 'billing-agent', groups: ['agents'], target: 'orders-db', protocol: 'postgres', client: { address: '127.0.0.1', port: 40000 + s }, revision });
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
  const base = median(samples.get('v1')!.wall);
  const rows = VARIANTS.map((v) => {
    const s = samples.get(v.name)!;
    const us = median(s.wall);
    return { variant: v.name, label: v.label, usPerStatement: round2(us), cpuUsPerStatement: round2(median(s.cpu)), bytesPerStatement: Math.round(median(s.bytes)), ratio: round2(us / base) };
  });
  return { sessions, statementsPerRun: statements, repeats, rows };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function formatEvidence(r: EvidenceBenchResult): string {
  const lines = [`evidence recording per statement (${r.sessions} sessions, ${r.statementsPerRun} statements a run, median of ${r.repeats}; durability write, no journal)`];
  lines.push(`  ${'format'.padEnd(50)} ${'µs/stmt'.padStart(8)} ${'cpu µs'.padStart(8)} ${'bytes'.padStart(6)} ${'vs v1'.padStart(6)}`);
  for (const row of r.rows) {
    lines.push(`  ${row.label.padEnd(50)} ${row.usPerStatement.toFixed(2).padStart(8)} ${row.cpuUsPerStatement.toFixed(2).padStart(8)} ${String(row.bytesPerStatement).padStart(6)} ${`${row.ratio.toFixed(2)}x`.padStart(6)}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${formatEvidence(await runEvidenceBench())}\n`);
}
