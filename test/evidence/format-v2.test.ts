/**
 * Evidence format v2 in the file store: one seal per batch, facts written once and referenced,
 * results folded into the session's next record. Tamper detection keeps naming the first bad record.
 */
import { spawnSync } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CanonicalFragment, CanonicalWithSlot } from '../../runtime/encoding/canonical.ts';
import { readEvidence } from '../../runtime/evidence/reader.ts';
import { evidenceLogPath, FileEvidenceStore } from '../../runtime/evidence/store.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { readSessions } from '../../runtime/recording/read.ts';
import { Recorder } from '../../runtime/recording/recorder.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import { scratchDirs } from './helpers.ts';

const dir = scratchDirs();
const revision = { commit: 'a'.repeat(40), dirty: false, digest: 'b'.repeat(64) };
const allow: Decision = {
  effect: 'allow',
  rules: [{ policy: 'agents-read', rule: 'read-customers', file: 'policies/agents.yaml', line: 12 }],
  masks: [{ kind: 'column', pattern: 'customers.ssn', strategy: 'redact', source: 'classification:pii' }],
  reason: 'allowed by agents-read/read-customers',
  revision,
};
const analysis = { class: 'select', relations: [{ name: 'customers', access: 'read' }], hasWhere: true };
const key = (d: string) => readFile(join(d, 'checkpoint-key.pub.pem'), 'utf8');
const logLines = async (d: string) => (await readFile(evidenceLogPath(d), 'utf8')).split('\n').filter(Boolean);
const parse = (l: string) => JSON.parse(l) as { seq: number; type: string; data: Record<string, unknown>; refs?: Record<string, number>; hash?: string };

/** Two sessions of statements through the Recorder the way the PostgreSQL gateway records them. */
async function sessions(d: string, opts: { statements?: number; format?: 1 | 2 } = {}): Promise<void> {
  const store = await FileEvidenceStore.open(d, { format: opts.format ?? 2, checkpointEvery: 1000, checkpointIntervalMs: 60_000 });
  const recorder = new Recorder(store, { now: () => 0 });
  const encodedDecision = new CanonicalFragment(allow);
  const template = new CanonicalWithSlot({ text: '', ...analysis }, 'text');
  for (let s = 0; s < 2; s++) {
    const { sessionId } = await recorder.startSession({
      identity: 'billing-agent',
      groups: ['agents'],
      target: 'orders-db',
      protocol: 'postgres',
      client: { address: '127.0.0.1', port: 5000 + s },
      revision,
    });
    for (let i = 1; i <= (opts.statements ?? 3); i++) {
      const text = `SELECT name FROM customers WHERE id = ${i}`;
      const at = '2026-11-25T03:00:00.000Z';
      const request = CanonicalFragment.ofCanonical(
        `{"at":"${at}","protocol":"postgres","statement":${template.fill(text).json},"subject":{"groups":["agents"],"identity":"billing-agent"},"target":"orders-db"}`,
      );
      // the previous statement's result, then this decision, in one turn: the result rides along
      if (i > 1) void recorder.recordResult({ sessionId, seq: i - 1, status: 'ok', durationMs: 1, rows: 1, maskedValues: 0, sample: [{ name: 'n' }] });
      const staged = recorder.recordDecisionStaged({ sessionId, request: request as never, decision: allow, encodedDecision, statement: { template, text, at } });
      await staged.written;
      await staged.durable;
    }
    void recorder.recordResult({ sessionId, seq: opts.statements ?? 3, status: 'ok', durationMs: 1, rows: 0, maskedValues: 0 });
    await recorder.endSession({ sessionId, reason: 'client-closed' });
  }
  await store.close();
}

describe('evidence format v2', () => {
  it('writes one record per statement, facts once, and reads back the same logical records as v1', async () => {
    const v2 = await dir();
    const v1 = await dir();
    await sessions(v2);
    await sessions(v1, { format: 1 });
    const records = (await logLines(v2)).map(parse);
    expect(records.filter((r) => r.type === 'result')).toEqual([]); // every result folded
    expect(records.filter((r) => r.type === 'evidence.fact')).toHaveLength(3); // the subject, the decision and the template
    expect(records.filter((r) => r.type === 'decision').every((r) => r.refs && !('decision' in r.data))).toBe(true);
    expect(await verifyEvidence(v2, await key(v2), { requireSignedTail: true })).toMatchObject({ ok: true });
    expect(await verifyEvidence(v1, await key(v1), { requireSignedTail: true })).toMatchObject({ ok: true });

    const logical = async (d: string) => {
      const out: unknown[] = [];
      for await (const r of readEvidence(d)) if (r.type !== 'checkpoint') out.push({ type: r.type, data: { ...(r.data as object), sessionId: undefined } });
      return out;
    };
    expect(await logical(v2)).toEqual(await logical(v1));
    const [first] = await readSessions(v2);
    expect(first?.exchanges).toHaveLength(3);
    expect(first?.exchanges[0]?.request).toMatchObject({ statement: { text: 'SELECT name FROM customers WHERE id = 1', ...analysis }, subject: { identity: 'billing-agent' } });
    expect(first?.exchanges[0]?.decision).toEqual(allow);
    expect(first?.exchanges.map((e) => e.result?.status)).toEqual(['ok', 'ok', 'ok']);
    expect((await readFile(evidenceLogPath(v2))).length).toBeLessThan((await readFile(evidenceLogPath(v1))).length);
  });

  it('a result no record follows is written on its own and still resolves once durable', async () => {
    const d = await dir();
    const store = await FileEvidenceStore.open(d);
    const recorder = new Recorder(store);
    const { sessionId } = await recorder.startSession({ identity: 'a', groups: [], target: 't', protocol: 'mcp', client: { address: '::1' }, revision });
    await recorder.recordDecision({ sessionId, request: { protocol: 'mcp' } as never, decision: allow });
    const ref = await recorder.recordResult({ sessionId, seq: 1, status: 'ok', durationMs: 2, maskedValues: 0 });
    expect(ref.evidenceSeq).toBeGreaterThan(0);
    await store.close();
    const types: string[] = [];
    for await (const r of readEvidence(d)) types.push(r.type);
    expect(types).toEqual(['session.start', 'decision', 'result', 'checkpoint']);
  });

  it('resumes after SIGKILL and keeps one chain', async () => {
    const d = await dir();
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'crash-writer.ts'), d, '5', '2'], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    const head = JSON.parse(child.stdout) as { seq: number; hash: string };
    const b = await FileEvidenceStore.open(d, { checkpointEvery: 3 });
    expect(b.head().hash).toBe(head.hash);
    await b.append('x', { i: 5 });
    await b.close();
    expect(await verifyEvidence(d, b.publicKey()!, { requireSignedTail: true })).toMatchObject({ ok: true });
    const xs: unknown[] = [];
    for await (const r of readEvidence(d, { types: ['x'] })) xs.push(r.data);
    expect(xs).toEqual([0, 1, 2, 3, 4, 5].map((i) => ({ i })));
  });

  it('drops records no seal covers on restart (a batch cut short), and says so', async () => {
    const d = await dir();
    const a = await FileEvidenceStore.open(d);
    await a.append('x', { i: 0 });
    await a.close();
    await appendFile(evidenceLogPath(d), `{"seq":4,"ts":"2026-11-25T03:00:00.000Z","type":"x","data":{"i":1}}\n`);
    expect((await verifyEvidence(d, await key(d))).firstProblem).toMatchObject({ seq: 4, kind: 'truncated' });
    const b = await FileEvidenceStore.open(d);
    await b.append('x', { i: 2 });
    await b.close();
    expect(await verifyEvidence(d, await key(d), { requireSignedTail: true })).toMatchObject({ ok: true });
    const types: string[] = [];
    for await (const r of readEvidence(d)) types.push(r.type);
    expect(types).toEqual(['x', 'checkpoint', 'evidence.recovered', 'x', 'checkpoint']);
  });
});

describe('evidence format v2: tampering', () => {
  async function log(): Promise<{ d: string; lines: string[] }> {
    const d = await dir();
    await sessions(d, { statements: 4 });
    return { d, lines: await logLines(d) };
  }
  const problem = async (d: string) => (await verifyEvidence(d, await key(d))).firstProblem;

  it('an edit of a record inside a batch names that record', async () => {
    const { d, lines } = await log();
    const i = lines.findIndex((l) => l.includes('WHERE id = 1'));
    const seq = parse(lines[i]!).seq;
    expect(parse(lines[i - 1]!).type).toBe('evidence.fact'); // a batch of several records
    lines[i] = lines[i]!.replace('id = 1', 'id = 9');
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq, kind: 'edited', message: expect.stringContaining(`record ${seq} was edited`) });
  });

  it('an edit whose CRC was recomputed is caught by the seal, at its batch', async () => {
    const { d, lines } = await log();
    const { lineCrc } = await import('../../runtime/evidence/chain.ts');
    const i = lines.findIndex((l) => l.includes('WHERE id = 3'));
    const edited = lines[i]!.replace('id = 3', 'id = 9');
    const sealAt = lines.findIndex((l, j) => j > i && parse(l).type === 'evidence.seal');
    const seal = parse(lines[sealAt]!) as unknown as { data: { from: number; crc: string } };
    const k = parse(lines[i]!).seq - seal.data.from;
    lines[sealAt] = lines[sealAt]!.replace(seal.data.crc, seal.data.crc.slice(0, k * 8) + lineCrc(edited) + seal.data.crc.slice(k * 8 + 8));
    lines[i] = edited;
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq: seal.data.from, kind: 'edited' });
  });

  it('an edit of a fact (the shared decision) that later records reference names the fact record', async () => {
    const { d, lines } = await log();
    const i = lines.findIndex((l) => parse(l).type === 'evidence.fact' && l.includes('"effect":"allow"'));
    const seq = parse(lines[i]!).seq;
    lines[i] = lines[i]!.replace('"effect":"allow"', '"effect":"deny"');
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq, kind: 'edited' });
  });

  it('a removed template record is found, and readers refuse to guess it', async () => {
    const { d, lines } = await log();
    const i = lines.findIndex((l) => parse(l).type === 'evidence.fact' && l.includes('"hasWhere"'));
    const seq = parse(lines[i]!).seq;
    lines.splice(i, 1);
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq, kind: 'removed' });
    await expect(readSessions(d)).rejects.toMatchObject({ code: 'tampered' });
  });

  it('a removed, or two swapped, records are named as in v1', async () => {
    const { d, lines } = await log();
    const decisions = lines.map((l, i) => [l, i] as const).filter(([l]) => parse(l).type === 'decision');
    const [, i] = decisions[2]!;
    const removed = lines.slice();
    removed.splice(i, 1);
    await writeFile(evidenceLogPath(d), `${removed.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq: parse(lines[i]!).seq, kind: 'removed' });
    const swapped = lines.slice();
    [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
    await writeFile(evidenceLogPath(d), `${swapped.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq: parse(lines[i]!).seq, kind: 'reordered' });
  });

  it('a v1 log, and a v1 log continued in v2, verify', async () => {
    const d = await dir();
    const a = await FileEvidenceStore.open(d, { format: 1 });
    await a.append('x', { i: 0 });
    await a.close();
    const b = await FileEvidenceStore.open(d);
    await b.append('x', { i: 1 });
    await b.close();
    expect(await verifyEvidence(d, await key(d), { requireSignedTail: true })).toMatchObject({ ok: true });
    const lines = await logLines(d);
    expect(parse(lines[0]!).hash).toBeDefined();
    expect(parse(lines[2]!).hash).toBeUndefined();
    lines[0] = lines[0]!.replace('"i":0', '"i":7');
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d)).toMatchObject({ seq: 1, kind: 'edited' });
  });
});

describe('a v1 log written before format v2 (fixtures/v1-log)', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'v1-log');
  async function copyFixture(): Promise<string> {
    const d = await dir();
    await writeFile(evidenceLogPath(d), await readFile(join(fixture, 'evidence.jsonl')));
    return d;
  }
  const pub = () => readFile(join(fixture, 'checkpoint-key.pub.pem'), 'utf8');

  it('verifies, reads as the same sessions, and names an edited record', async () => {
    const d = await copyFixture();
    expect(await verifyEvidence(d, await pub(), { requireSignedTail: true })).toMatchObject({ ok: true, records: 12, checkpoints: 2 });
    const [session, ...others] = await readSessions(d);
    expect(others).toEqual([]);
    expect(session?.start).toMatchObject({ sessionId: '00000000-0000-4000-8000-000000000001', identity: 'billing-agent' });
    expect(session?.exchanges.map((e) => [e.seq, (e.request as { statement: { text: string } }).statement.text, e.result?.rows])).toEqual(
      [1, 2, 3, 4].map((i) => [i, `SELECT name, ssn FROM customers WHERE id = ${i}`, 1]),
    );
    expect(session?.end).toMatchObject({ reason: 'client-closed', durationMs: 5000 });
    const lines = await logLines(d);
    lines[5] = lines[5]!.replace('id = 3', 'id = 7');
    await writeFile(evidenceLogPath(d), `${lines.join('\n')}\n`);
    expect(await problem(d, await pub())).toMatchObject({ seq: 6, kind: 'edited', message: expect.stringContaining('record 6 was edited') });
  });
});

async function problem(d: string, pub: string) {
  return (await verifyEvidence(d, pub)).firstProblem;
}

describe('folded results', () => {
  it('are written on their own when the record that would carry them cannot be encoded', async () => {
    const d = await dir();
    const store = await FileEvidenceStore.open(d);
    const recorder = new Recorder(store);
    const { sessionId } = await recorder.startSession({ identity: 'a', groups: [], target: 't', protocol: 'mcp', client: { address: '::1' }, revision });
    await recorder.recordDecision({ sessionId, request: { protocol: 'mcp' } as never, decision: allow });
    const result = recorder.recordResult({ sessionId, seq: 1, status: 'ok', durationMs: 2, maskedValues: 0 });
    await expect(recorder.recordDecision({ sessionId, request: { protocol: 'mcp', n: 1n } as never, decision: allow })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect((await result).evidenceSeq).toBeGreaterThan(0);
    await store.close();
    const types: string[] = [];
    for await (const r of readEvidence(d)) types.push(r.type);
    expect(types).toEqual(['session.start', 'decision', 'result', 'checkpoint']);
  });
});
