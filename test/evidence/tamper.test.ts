/**
 * The tamper suite: what an attacker with write access to the gateway's data directory tries, each
 * against a copy of a data directory written by the real `portcullis gateway` code path with its
 * defaults, and checked the way an auditor checks it — `portcullis evidence verify` in a child
 * process, trusting the keys pinned in the policy repo.
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../runtime/gateway/start.ts';
import { checkpointMessage, type EvidenceRecord } from '../../runtime/evidence/record.ts';
import { rebuildLog } from './helpers.ts';
import { CanonicalFragment } from '../../runtime/encoding/canonical.ts';
import { keyIdOf } from '../../runtime/evidence/keys.ts';
import { portcullis } from '../evidence-cli/cli.ts';

const root = await mkdtemp(join(tmpdir(), 'pc-tamper-'));
const dataDir = join(root, 'data');
const repo = join(root, 'policies');
afterAll(() => rm(root, { recursive: true, force: true }));

/** One run of the gateway: starts, records two sessions, stops (a stop signs the head). */
async function run(n: number): Promise<void> {
  const gw = await startGateway({ policies: repo, dataDir, pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false }, { log: () => undefined });
  const recorder = gw.runtime.ctx.recorder;
  const revision = gw.runtime.ctx.bundle()!.revision;
  for (let i = 0; i < 2; i++) {
    const { sessionId } = await recorder.startSession({
      identity: 'data-agent',
      groups: ['agents'],
      target: 'shop-db',
      protocol: 'postgres',
      client: { address: '127.0.0.1', port: 5000 + i },
      revision,
    } as never);
    // A decided statement as the PostgreSQL gateway records it: format v2 writes the decision once
    // as a fact and references it.
    const decision = { effect: 'allow', rules: [], masks: [], reason: `run ${n} allows it`, revision };
    const request = {
      protocol: 'postgres',
      subject: { identity: 'data-agent', groups: ['agents'] },
      target: 'shop-db',
      at: new Date().toISOString(),
      statement: { text: `SELECT ${i}`, class: 'select', relations: [], hasWhere: true },
    };
    await recorder.recordDecision({ sessionId, request: request as never, decision: decision as never, encodedDecision: new CanonicalFragment(decision) });
    await recorder.endSession({ sessionId, reason: `run ${n} session ${i}` });
  }
  await gw.stop();
}

const lines = (text: string) => text.split('\n').filter(Boolean);
const parse = (line: string) => JSON.parse(line) as EvidenceRecord;

/**
 * A copy of the data directory, as an attacker (or a backup) would hold it. The attacker also
 * removes evidence.journal: records it holds past the log's end would be restored on the next start.
 */
async function copy(name: string): Promise<{ dir: string; log: string }> {
  const dir = join(root, name);
  await cp(dataDir, dir, { recursive: true });
  await rm(join(dir, 'evidence', 'evidence.journal'), { force: true });
  return { dir, log: join(dir, 'evidence', 'evidence.jsonl') };
}

/** The auditor's check in the default set-up: keys pinned in the repo, the default witness. */
function verify(dir: string, ...extra: string[]) {
  return portcullis(['evidence', 'verify', '--data-dir', dir, '--policies', repo, ...extra]);
}

/** Every file under `dir` whose content is a PEM private key. */
async function privateKeysUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await stat(path)).size > 1 << 20) continue;
    if ((await readFile(path, 'utf8')).includes('PRIVATE KEY')) out.push(path);
  }
  return out;
}

let original: string[];
/** seq of the checkpoint each run ended with */
let runEnds: number[];

beforeAll(async () => {
  await cp('policies', repo, { recursive: true });
  runEnds = [];
  for (let n = 1; n <= 3; n++) {
    await run(n);
    if (n === 1) {
      // The operator pins the gateway's key in the policy repo once (it is reviewed like policy).
      const pinned = await portcullis(['evidence', 'pin-key', '--policies', repo, '--data-dir', dataDir]);
      expect(pinned.code, pinned.stderr).toBe(0);
    }
    const all = lines(await readFile(join(dataDir, 'evidence', 'evidence.jsonl'), 'utf8')).map(parse);
    runEnds.push(all[all.length - 1]!.seq);
    expect(all[all.length - 1]!.type).toBe('checkpoint');
  }
  original = lines(await readFile(join(dataDir, 'evidence', 'evidence.jsonl'), 'utf8'));
}, 120_000);

describe('evidence custody after `portcullis gateway` with defaults', () => {
  it('keeps no private key in the evidence directory, and the intact log verifies with the pinned key', async () => {
    expect(await privateKeysUnder(join(dataDir, 'evidence'))).toEqual([]);
    const r = await verify(dataDir, '--require-signed-tail');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^evidence intact/);
    expect(r.stdout).toMatch(/witness .*evidence\.heads: ok/);
    const types = original.map((l) => parse(l).type);
    expect(types.filter((t) => t === 'gateway.started')).toHaveLength(3);
    expect(types.filter((t) => t === 'gateway.stopped')).toHaveLength(3);
    // The report ends each live window at the stop, and verifies the log with the pinned key and witness.
    const report = JSON.parse((await portcullis(['evidence', 'report', '--data-dir', dataDir, '--policies', repo])).stdout);
    expect(report.verification).toMatchObject({ status: 'verified', witness: { state: 'ok' } });
    expect(report.commits.flatMap((c: { live: { windows: { endedBy?: string }[] } }) => c.live.windows.map((w) => w.endedBy))).toEqual(['stop', 'stop', 'stop']);
  });
});

describe('tamper suite', () => {
  it('a log cut back to an earlier checkpoint fails verify and names the missing range', async () => {
    const { dir, log } = await copy('cut-to-checkpoint');
    const keep = original.filter((l) => parse(l).seq <= runEnds[0]!);
    await writeFile(log, `${keep.join('\n')}\n`);
    const r = await verify(dir, '--require-signed-tail');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`evidence TAMPERED at record ${runEnds[0]! + 1} (cut): records ${runEnds[0]! + 1}..${runEnds[2]} are missing`);
    const json = JSON.parse((await verify(dir, '--format', 'json')).stdout);
    expect(json).toMatchObject({ ok: false, firstProblem: { kind: 'cut', seq: runEnds[0]! + 1 }, witness: { state: 'cut', lastWitnessedSeq: runEnds[2] } });
    // and the gateway refuses to append to it
    await expect(startGateway({ policies: repo, dataDir: dir, pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false }, { log: () => undefined })).rejects.toThrow(
      /records \d+\.\.\d+ are missing/,
    );
  });

  it('a cut tail (the last checkpoint and the records before it) fails verify', async () => {
    const { dir, log } = await copy('tail-cut');
    await writeFile(log, `${original.slice(0, -4).join('\n')}\n`);
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\(cut\): records \d+\.\.\d+ are missing: the witness saw the chain reach record/);
  });

  it('a rewrite re-signed with the private key found on the host fails verify', async () => {
    const { dir, log } = await copy('resigned');
    const [keyFile] = await privateKeysUnder(dir).then((keys) => keys.filter((k) => !k.endsWith('mask.key') && /key/.test(k)));
    const privateKey = createPrivateKey(await readFile(keyFile!, 'utf8'));
    const keyId = keyIdOf(createPublicKey(privateKey));
    // Erase the second run's first session: rewrite its session.end's reason, rehash (re-seal), re-sign.
    const rebuilt = rebuildLog(
      original,
      (records) => {
        const r = records.find((r) => (r.seq as number) > runEnds[0]! && r.type === 'session.end')!;
        (r.data as { reason: string }).reason = 'nothing happened';
      },
      (upTo, head) => ({ keyId, sig: sign(null, checkpointMessage(upTo, head), privateKey).toString('base64url') }),
    );
    await writeFile(log, rebuilt.join('\n') + '\n');
    // The chain and every signature are valid again: only the witness still knows the original heads.
    const chainOnly = await verify(dir, '--no-witness');
    expect(chainOnly.code).toBe(0);
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/checkpoint \d+ differs from the one witnessed at .*: the log was rewritten \(and re-signed\)/);
  });

  it('a rewrite signed with a key of the attacker, its public half left beside the log, fails verify', async () => {
    const { dir, log } = await copy('foreign-key');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'evidence', 'checkpoint-key.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const keyId = keyIdOf(publicKey);
    const rebuilt = rebuildLog(
      original,
      () => undefined,
      (upTo, head) => ({ keyId, sig: sign(null, checkpointMessage(upTo, head), privateKey).toString('base64url') }),
    );
    await writeFile(log, rebuilt.join('\n') + '\n');
    const r = await verify(dir, '--no-witness');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/is not a pinned verification key/);
  });

  it('an edit names the edited record, and says which records before it are intact', async () => {
    const { dir, log } = await copy('edited');
    const records = original.slice();
    const i = records.findIndex((l) => parse(l).type === 'session.end');
    const seq = parse(records[i]!).seq;
    records[i] = records[i]!.replace('session 0', 'session X');
    await writeFile(log, `${records.join('\n')}\n`);
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`evidence TAMPERED at record ${seq} (edited)`);
    expect(r.stdout).toContain(`records 1..${seq - 1} are intact`);
  });
});

describe('tamper suite: format v2 references', () => {
  it('an edited fact (a decision later records reference) is named, and so is a removed one', async () => {
    const { dir, log } = await copy('fact-edited');
    const i = original.findIndex((l) => parse(l).type === 'evidence.fact' && l.includes('run 2 allows it'));
    expect(i).toBeGreaterThan(0);
    const seq = parse(original[i]!).seq;
    const edited = original.slice();
    edited[i] = edited[i]!.replace('"effect":"allow"', '"effect":"deny"');
    await writeFile(log, `${edited.join('\n')}\n`);
    const r = await verify(dir, '--format', 'json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).firstProblem).toMatchObject({ seq, kind: 'edited' });
    const removed = original.slice();
    removed.splice(i, 1);
    await writeFile(log, `${removed.join('\n')}\n`);
    const text = await verify(dir);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`evidence TAMPERED at record ${seq} (removed)`);
  });
});

describe('verify messages', () => {
  it('a rehashed rewrite caught by a checkpoint does not count the rewritten records as intact', async () => {
    const { dir, log } = await copy('rehashed');
    let editedSeq = 0;
    const rebuilt = rebuildLog(original, (records) => {
      const r = records.find((r) => (r.seq as number) > runEnds[0]! && r.type === 'session.end')!;
      (r.data as { reason: string }).reason = 'nothing happened';
      editedSeq = r.seq as number;
    });
    await writeFile(log, rebuilt.join('\n') + '\n');
    const r = await verify(dir, '--format', 'json');
    const problem = JSON.parse(r.stdout).firstProblem as { seq: number; kind: string };
    expect(problem.kind).toBe('edited');
    expect(problem.seq).toBeLessThanOrEqual(editedSeq);
    const text = await verify(dir);
    expect(text.stdout).toContain(`records 1..${problem.seq - 1} are intact`);
  });
});

describe('tamper suite: the PostgreSQL store', () => {
  it('a row re-attributed to another replica fails verify (the replica column is hashed, result rows too)', async () => {
    const { createStateDatabase } = await import('../replicas/state-db.ts');
    const { PostgresEvidenceStore } = await import('../../runtime/evidence/postgres-store.ts');
    const { Recorder } = await import('../../runtime/recording/recorder.ts');
    const db = await createStateDatabase();
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const keyFile = join(root, 'pg-key.pub.pem');
      await writeFile(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
      const signingKey = { privateKey, publicKey, keyId: keyIdOf(publicKey) };
      const a = await PostgresEvidenceStore.open({ url: db.url, replica: 'gw-a', signingKey });
      const b = await PostgresEvidenceStore.open({ url: db.url, replica: 'gw-b', signingKey });
      const recorder = new Recorder(a);
      const { sessionId } = await recorder.startSession({
        identity: 'data-agent',
        groups: [],
        target: 'shop-db',
        protocol: 'postgres',
        client: { address: '127.0.0.1', port: 1 },
        revision: { digest: 'x' },
      } as never);
      const result = await recorder.recordResult({ sessionId, seq: 1, status: 'ok', rows: 3, maskedValues: 0, durationMs: 1 } as never);
      await b.append('approval.requested', { id: 'ap-1' });
      await a.close();
      await b.close();
      const args = ['evidence', 'verify', '--state', db.url, '--key', keyFile];
      expect((await portcullis(args)).code).toBe(0);
      await db.sql(`UPDATE portcullis_evidence SET replica = 'gw-b' WHERE seq = ${result.evidenceSeq}`);
      const r = await portcullis([...args, '--format', 'json']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).firstProblem).toMatchObject({ seq: result.evidenceSeq, kind: 'edited' });
    } finally {
      await db.drop();
    }
  });
});

describe('tamper suite: a bundle whose record cannot be written', () => {
  it('does not go live, the reload fails, and it goes live once its record is durable', async () => {
    const { startGatewayRuntime } = await import('../../runtime/gateway/runtime.ts');
    const { breakableDisk } = await import('./helpers.ts');
    const { readEvidence } = await import('../../runtime/evidence/reader.ts');
    const dir = join(root, 'bundle-record');
    const policies = join(dir, 'policies');
    await cp('policies', policies, { recursive: true });
    const disk = breakableDisk();
    const runtime = await startGatewayRuntime({ policies, dataDir: join(dir, 'data'), watch: false, log: () => undefined, evidence: disk.evidence });
    try {
      const before = runtime.ctx.bundle()!.revision.digest;
      expect(runtime.status().evidence?.witness).toEqual({ path: join(dir, 'data', 'witness', 'evidence.heads') });
      const yaml = join(policies, 'portcullis.yaml');
      await writeFile(yaml, (await readFile(yaml, 'utf8')).replace('Example policies', 'Changed example policies'));
      disk.fail(() => Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }), 'writes');
      const outcome = await runtime.reload();
      expect(outcome.ok).toBe(false);
      expect(outcome.errors?.[0]).toMatch(/does not go live: its bundle\.loaded record could not be written/);
      expect(runtime.ctx.bundle()!.revision.digest).toBe(before);
      disk.fail(undefined);
      // Nothing else would reload it: the gateway retries by itself once evidence is writable again.
      await expect.poll(() => runtime.ctx.bundle()!.revision.digest, { timeout: 15_000 }).not.toBe(before);
      const after = runtime.ctx.bundle()!.revision.digest;
      const loaded: string[] = [];
      for await (const r of readEvidence(join(dir, 'data', 'evidence'), { types: ['bundle.loaded'] })) loaded.push((r.data as { revision: { digest: string } }).revision.digest);
      expect(loaded).toEqual([before, after]);
    } finally {
      await runtime.close();
    }
  });
});

describe('key rotation', () => {
  it('a restart with another signing key writes key.rotated; verify needs both keys pinned', async () => {
    const dir = join(root, 'rotation');
    const policies = join(dir, 'policies');
    await cp(repo, policies, { recursive: true });
    await cp(dataDir, join(dir, 'data'), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const newKey = join(dir, 'new-key.pem');
    await writeFile(newKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(join(dir, 'new-key.pub.pem'), createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
    const gw = await startGateway({ policies, dataDir: join(dir, 'data'), pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false, evidence: { signingKeyFile: newKey } }, { log: () => undefined });
    await gw.stop();
    const records = lines(await readFile(join(dir, 'data', 'evidence', 'evidence.jsonl'), 'utf8')).map(parse);
    const rotated = records.find((r) => r.type === 'key.rotated');
    expect(rotated?.data).toMatchObject({ to: keyIdOf(createPublicKey(privateKey)) });
    const args = ['evidence', 'verify', '--data-dir', join(dir, 'data'), '--policies', policies];
    const one = await portcullis(args);
    expect(one.code).toBe(1);
    expect(one.stdout).toMatch(/is not a pinned verification key/);
    expect((await portcullis(['evidence', 'pin-key', '--policies', policies, '--key', join(dir, 'new-key.pub.pem'), '--name', 'rotated'])).code).toBe(0);
    const both = await portcullis(args);
    expect(both.stdout).toMatch(/^evidence intact/);
    expect(both.code).toBe(0);
  });

  it('refuses a signing key inside the evidence directory', async () => {
    const dir = join(root, 'key-inside');
    await cp(dataDir, dir, { recursive: true });
    const inside = join(dir, 'evidence', 'my-key.pem');
    await cp(join(dir, 'keys', 'checkpoint-key.pem'), inside);
    await expect(
      startGateway({ policies: repo, dataDir: dir, pgPort: 0, httpPort: 'off', adminPort: 'off', watch: false, evidence: { signingKeyFile: inside } }, { log: () => undefined }),
    ).rejects.toThrow(/signing key .* is inside the evidence directory/);
  });
});
