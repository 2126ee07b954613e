import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRecordings } from '../../runtime/recording/read.ts';
import { defaultPublicKeyFile } from '../../runtime/evidence/custody.ts';
import { gatewayFixture, type GatewayFixture } from '../admin/gateway-fixture.ts';
import { portcullis } from './cli.ts';

let g: GatewayFixture;
let dataDir: string;
let sessionId: string;
let log: string;
let original: string;
/** the operator trusts the gateway's own public key explicitly (no policy repo pins it here) */
let key: string[];

beforeAll(async () => {
  g = await gatewayFixture();
  dataDir = g.dataDir;
  sessionId = await g.recordSession('data-agent', [
    { sql: 'SELECT id, email FROM customers LIMIT 1', sample: [{ id: 1, email: 'hash:5f2c' }], maskedValues: 1 },
    { sql: 'UPDATE orders SET status = $$void$$ WHERE id = 3' },
    { sql: 'DELETE FROM orders WHERE id = 3' },
  ]);
  await g.recordSession('support-agent', [{ sql: 'SELECT id FROM orders LIMIT 1', sample: [{ id: 1 }] }]);
  await g.recorder.endAll('client-closed');
  await g.store.checkpoint();
  log = join(dataDir, 'evidence', 'evidence.jsonl');
  original = await readFile(log, 'utf8');
  key = ['--key', defaultPublicKeyFile(dataDir)];
}, 60_000);

afterAll(async () => {
  await writeFile(log, original);
  await g?.close();
});

async function tamper(edit: (lines: string[]) => string[]): Promise<void> {
  const lines = original.split('\n').filter(Boolean);
  await writeFile(log, `${edit(lines).join('\n')}\n`);
}

const seqOf = (line: string) => (JSON.parse(line) as { seq: number }).seq;
const indexOfType = (lines: string[], type: string, nth = 0) => lines.map((l, i) => [l, i] as const).filter(([l]) => JSON.parse(l).type === type)[nth]![1];

describe('portcullis evidence verify', () => {
  it('passes an intact log', async () => {
    const r = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^evidence intact: \d+ records, \d+ signed checkpoints/);
    const json = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir, '--format', 'json', '--require-signed-tail']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, unsignedTail: 0 });
  });

  it('names an edited record: one changed character in a decision', async () => {
    let seq = 0;
    await tamper((lines) => {
      const i = indexOfType(lines, 'decision', 2);
      seq = seqOf(lines[i]!);
      lines[i] = lines[i]!.replace('WHERE id = 3', 'WHERE id > 3');
      return lines;
    });
    const r = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`evidence TAMPERED at record ${seq} (edited)`);
    const json = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir, '--format', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).firstProblem).toMatchObject({ seq, kind: 'edited' });
  });

  it('names a removed record', async () => {
    let seq = 0;
    await tamper((lines) => {
      const i = indexOfType(lines, 'result');
      seq = seqOf(lines[i]!);
      return lines.filter((_, j) => j !== i);
    });
    const r = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir, '--format', 'json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).firstProblem).toMatchObject({ seq, kind: 'removed' });
  });

  it('names reordered records', async () => {
    let seq = 0;
    await tamper((lines) => {
      const i = indexOfType(lines, 'decision');
      seq = seqOf(lines[i]!);
      [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
      return lines;
    });
    const r = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`evidence TAMPERED at record ${seq} (reordered)`);
  });

  it('detects a rewritten chain by its checkpoint signature', async () => {
    const { recordHash } = await import('../../runtime/evidence/record.ts');
    await tamper((lines) => {
      const records = lines.map((l) => JSON.parse(l));
      const i = indexOfType(lines, 'decision');
      records[i].data.request.statement.text = 'SELECT 1';
      for (let j = i; j < records.length; j++) {
        if (j > 0) records[j].prev = records[j - 1].hash;
        records[j].hash = recordHash(records[j]);
      }
      return records.map((r) => JSON.stringify(r));
    });
    const r = await portcullis(['evidence', 'verify', ...key, '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/TAMPERED/);
    await writeFile(log, original);
  });

  it('explains a missing log or key', async () => {
    const r = await portcullis(['evidence', 'verify', '--data-dir', join(dataDir, 'nowhere'), '--policies', join(dataDir, 'nowhere')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no evidence verification key is pinned .*\n.*evidence pin-key/);
    const noLog = await portcullis(['evidence', 'verify', ...key, '--data-dir', join(dataDir, 'nowhere')]);
    expect(noLog.code).toBe(1);
    expect(noLog.stderr).toMatch(/no evidence log at/);
    expect((await portcullis(['evidence', 'check'])).code).toBe(2);
  });
});

describe('portcullis sessions', () => {
  it('lists with filters, shows a timeline and exports recordings the simulator reads', async () => {
    await writeFile(log, original);
    const list = await portcullis(['sessions', 'list', '--data-dir', dataDir]);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n')).toHaveLength(2);
    const filtered = await portcullis(['sessions', 'list', '--data-dir', dataDir, '--effect', 'review', '--format', 'json']);
    expect(JSON.parse(filtered.stdout).sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual([sessionId]);

    const show = await portcullis(['sessions', 'show', sessionId, '--data-dir', dataDir]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('#1');
    expect(show.stdout).toContain('ALLOW [data-maintenance/read-all');
    expect(show.stdout).toContain('sample: [{"email":"hash:5f2c","id":1}]');
    expect(show.stdout).toContain('REVIEW [data-maintenance/deletes-need-dba');
    expect((await portcullis(['sessions', 'show', 'nope', '--data-dir', dataDir])).stderr).toMatch(/no session nope/);

    const out = join(dataDir, 'recordings.jsonl');
    const exp = await portcullis(['sessions', 'export', '--data-dir', dataDir, '--out', out]);
    expect(exp.code).toBe(0);
    const recordings = parseRecordings(await readFile(out, 'utf8'), out);
    expect(recordings).toHaveLength(4);
    expect(recordings[0]).toMatchObject({ sessionId, seq: 1, request: { protocol: 'postgres' }, decision: { effect: 'allow' } });
    expect(JSON.stringify(recordings)).not.toContain('hash:5f2c'); // samples are not exported
  });
});
