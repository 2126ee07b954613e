import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresEvidenceStore } from '../../runtime/evidence/postgres-store.ts';
import { keyIdOf } from '../../runtime/evidence/keys.ts';
import { createStateDatabase, type StateDatabase } from '../replicas/state-db.ts';
import { portcullis } from './cli.ts';

let db: StateDatabase | undefined;
let dir: string | undefined;
afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('portcullis evidence verify --state', () => {
  it('verifies the PostgreSQL evidence shared by replicas and names an edited row', async () => {
    db = await createStateDatabase();
    dir = await mkdtemp(join(tmpdir(), 'pc-pgverify-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = join(dir, 'key.pub.pem');
    await writeFile(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const store = await PostgresEvidenceStore.open({ url: db.url, replica: 'r1', signingKey: { privateKey, publicKey, keyId: keyIdOf(publicKey) }, checkpointEvery: 3 });
    for (let i = 0; i < 7; i++) await store.append('approval.requested', { id: `ap-${i}` });
    await store.close();

    const ok = await portcullis(['evidence', 'verify', '--state', db.url, '--key', keyFile]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^evidence intact/);

    await db.sql(`UPDATE portcullis_evidence SET data = '{"id":"ap-x"}' WHERE seq = 5`);
    const bad = await portcullis(['evidence', 'verify', '--state', db.url, '--key', keyFile, '--format', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).firstProblem).toMatchObject({ seq: 5, kind: 'edited' });
  });

  it('says what to grant when the evidence tables cannot be read (not "a bug")', async () => {
    const role = `noread_${Date.now().toString(36)}`;
    await db!.sql(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    try {
      const url = new URL(db!.url);
      url.username = role;
      url.password = 'pw';
      const keyFile = join(dir!, 'key.pub.pem');
      const r = await portcullis(['evidence', 'verify', '--state', url.toString(), '--key', keyFile]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot read the evidence tables in .*permission denied/);
      expect(r.stderr).toMatch(/GRANT SELECT ON portcullis_evidence, portcullis_evidence_head TO/);
      expect(r.stderr).not.toMatch(/bug/);
    } finally {
      await db!.sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => undefined);
    }
  });
});
