import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { canonical } from '../../runtime/encoding/canonical.ts';
import { FileEvidenceStore, evidenceLogPath } from '../../runtime/evidence/store.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { checkpointMessage, type CheckpointData, type EvidenceRecord } from '../../runtime/evidence/record.ts';
import { readRecords, rehashFrom, tempDir, writeRecords } from './helpers.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A log of 20 data records with a checkpoint after every 5: seqs 1-5, cp 6, 7-11, cp 12, ... */
async function sampleLog(): Promise<{ dir: string; pub: string }> {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  const store = await FileEvidenceStore.open(t.dir, { format: 1, checkpointEvery: 5, checkpointIntervalMs: 60_000 });
  for (let i = 0; i < 20; i++) await store.append('decision', { i, text: `statement ${i}` });
  await store.close();
  return { dir: t.dir, pub: await readFile(join(t.dir, 'checkpoint-key.pub.pem'), 'utf8') };
}

function at(records: EvidenceRecord[], seq: number): EvidenceRecord {
  const r = records.find((x) => x.seq === seq);
  if (!r) throw new Error(`no record ${seq}`);
  return r;
}

describe('verifyEvidence', () => {
  it('accepts an intact log', async () => {
    const { dir, pub } = await sampleLog();
    const result = await verifyEvidence(dir, pub, { requireSignedTail: true });
    expect(result).toEqual({ ok: true, records: 24, checkpoints: 4, lastCheckpointSeq: 24, unsignedTail: 0 });
  });

  it('names an edited record', async () => {
    const { dir, pub } = await sampleLog();
    const records = await readRecords(dir);
    (at(records, 8).data as { text: string }).text = 'DROP TABLE customers';
    await writeRecords(dir, records);
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 8, kind: 'edited' });
  });

  it('catches an edit whose chain was carefully re-hashed, at the signed range', async () => {
    const { dir, pub } = await sampleLog();
    const records = await readRecords(dir);
    (at(records, 8).data as { text: string }).text = 'DROP TABLE customers';
    rehashFrom(records, 7);
    await writeRecords(dir, records);
    const result = await verifyEvidence(dir, pub);
    expect(result.ok).toBe(false);
    expect(result.firstProblem).toMatchObject({ seq: 7, kind: 'edited' });
    expect(result.firstProblem?.message).toContain('7..11');
  });

  it('names a removed record', async () => {
    const { dir, pub } = await sampleLog();
    const records = (await readRecords(dir)).filter((r) => r.seq !== 9);
    await writeRecords(dir, records);
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 9, kind: 'removed' });
  });

  it('names two swapped records', async () => {
    const { dir, pub } = await sampleLog();
    const records = await readRecords(dir);
    const i = records.findIndex((r) => r.seq === 14);
    [records[i], records[i + 1]] = [records[i + 1] as EvidenceRecord, records[i] as EvidenceRecord];
    await writeRecords(dir, records);
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 14, kind: 'reordered' });
  });

  it('detects a truncated checkpoint signature', async () => {
    const { dir, pub } = await sampleLog();
    const records = await readRecords(dir);
    const cp = at(records, 12).data as CheckpointData;
    cp.sig = cp.sig.slice(0, 40);
    rehashFrom(records, 11);
    await writeRecords(dir, records);
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 12, kind: 'bad-signature' });
  });

  it('detects a checkpoint forged with another key, even with a matching keyId claim', async () => {
    const { dir, pub } = await sampleLog();
    const records = await readRecords(dir);
    (at(records, 3).data as { text: string }).text = 'forged';
    rehashFrom(records, 2);
    const cp = at(records, 6);
    const data = cp.data as CheckpointData;
    const attacker = generateKeyPairSync('ed25519');
    data.head = at(records, 5).hash;
    data.sig = sign(null, checkpointMessage(5, data.head), attacker.privateKey).toString('base64url');
    rehashFrom(records, 5);
    await writeRecords(dir, records);
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 6, kind: 'bad-signature' });
  });

  it('reports a log cut mid-record as truncated, and a cut after a checkpoint with requireSignedTail', async () => {
    const { dir, pub } = await sampleLog();
    const intact = await readRecords(dir);
    await appendFile(evidenceLogPath(dir), '{"seq":25,"ts":"20');
    expect((await verifyEvidence(dir, pub)).firstProblem).toMatchObject({ seq: 25, kind: 'truncated' });

    const records = intact.filter((r) => r.seq <= 20);
    await writeRecords(dir, records);
    const relaxed = await verifyEvidence(dir, pub);
    expect(relaxed).toMatchObject({ ok: true, unsignedTail: 2, lastCheckpointSeq: 18 });
    expect((await verifyEvidence(dir, pub, { requireSignedTail: true })).firstProblem).toMatchObject({ seq: 19, kind: 'truncated' });
  });

  it('rejects verification with the wrong public key', async () => {
    const { dir } = await sampleLog();
    const other = generateKeyPairSync('ed25519').publicKey;
    expect((await verifyEvidence(dir, other)).firstProblem).toMatchObject({ seq: 6, kind: 'bad-signature' });
  });
});

describe('canonical', () => {
  it('is a fixed point under JSON round trip and ignores key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonical(value);
        expect(canonical(JSON.parse(text))).toBe(text);
      }),
    );
    expect(canonical({ b: 1, a: [true, null, { d: 'x', c: undefined }] })).toBe('{"a":[true,null,{"d":"x"}],"b":1}');
  });
});
