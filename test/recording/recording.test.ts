import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../runtime/engine/decision.ts';
import type { PostgresRequest } from '../../runtime/engine/request.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { FileEvidenceStore } from '../../runtime/evidence/store.ts';
import type { EvidenceStore } from '../../runtime/evidence/store.ts';
import { verifyEvidence } from '../../runtime/evidence/verify.ts';
import { exportRecordings, formatRecordings, parseRecordings, readSessions } from '../../runtime/recording/read.ts';
import { Recorder } from '../../runtime/recording/recorder.ts';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

const revision = { commit: 'a'.repeat(40), dirty: false, digest: 'b'.repeat(64) };

function request(text: string): PostgresRequest {
  return {
    protocol: 'postgres',
    subject: { identity: 'billing-agent', groups: ['agents'] },
    target: 'orders-db',
    at: '2026-11-25T03:00:00.000Z',
    statement: { text, class: 'select', relations: [{ name: 'customers', access: 'read' }], hasWhere: true },
  };
}

const allow: Decision = {
  effect: 'allow',
  rules: [{ policy: 'agents-read', rule: 'read-customers', file: 'policies/agents.yaml', line: 12 }],
  masks: [{ kind: 'column', pattern: 'customers.ssn', strategy: 'redact', source: 'classification:pii' }],
  reason: 'allowed by agents-read/read-customers',
  revision,
};
const deny: Decision = { effect: 'deny', rules: [], masks: [], reason: 'no rule allows ddl (default deny)', revision };

describe('session recording', () => {
  it('round-trips sessions through the evidence store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-recording-'));
    dirs.push(dir);
    const store = await FileEvidenceStore.open(dir);
    let clock = 1_000;
    const recorder = new Recorder(store, { now: () => clock });

    const { sessionId } = await recorder.startSession({
      identity: 'billing-agent',
      kind: 'agent',
      groups: ['agents'],
      target: 'orders-db',
      protocol: 'postgres',
      client: { address: '127.0.0.1', port: 50432 },
      revision,
      attributes: { database: 'orders' },
    });
    const first = await recorder.recordDecision({ sessionId, request: request('SELECT name, ssn FROM customers WHERE id = 1'), decision: allow });
    expect(first.seq).toBe(1);
    const rows = Array.from({ length: 12 }, (_, i) => ({ name: `n${i}`, ssn: '***' }));
    await recorder.recordResult({ sessionId, seq: 1, status: 'ok', durationMs: 3, rows: 12, maskedValues: 12, sample: rows });
    const second = await recorder.recordDecision({ sessionId, request: request('DROP TABLE customers'), decision: deny });
    expect(second.seq).toBe(2);
    await recorder.recordResult({ sessionId, seq: 2, status: 'error', durationMs: 0, error: { code: 'permission_denied', message: deny.reason } });
    clock = 6_000;
    await recorder.endSession({ sessionId, reason: 'client-closed' });
    expect(await recorder.endSession({ sessionId, reason: 'client-closed' })).toBeUndefined();
    await store.close();

    const [session, ...others] = await readSessions(dir);
    expect(others).toEqual([]);
    expect(session?.start).toMatchObject({ sessionId, identity: 'billing-agent', client: { address: '127.0.0.1' }, revision });
    expect(session?.exchanges.map((e) => e.decision.effect)).toEqual(['allow', 'deny']);
    expect(session?.exchanges[0]?.request).toEqual(request('SELECT name, ssn FROM customers WHERE id = 1'));
    expect(session?.exchanges[0]?.result?.sample).toHaveLength(5);
    expect(session?.exchanges[1]?.result).toMatchObject({ status: 'error', error: { code: 'permission_denied' } });
    expect(session?.end).toMatchObject({ reason: 'client-closed', durationMs: 5_000 });

    const exported = await exportRecordings(dir);
    expect(exported).toEqual([
      { sessionId, seq: 1, request: request('SELECT name, ssn FROM customers WHERE id = 1'), decision: allow },
      { sessionId, seq: 2, request: request('DROP TABLE customers'), decision: deny },
    ]);
    expect(parseRecordings(formatRecordings(exported))).toEqual(exported);
    expect((await verifyEvidence(dir, store.publicKey()!, { requireSignedTail: true })).ok).toBe(true);
    await expect(readSessions(dir, { sessionId: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('recordDecision rejects when evidence cannot be made durable, so the gateway refuses the request', async () => {
    let writable = true;
    const store: EvidenceStore = {
      append: async () => {
        if (!writable) throw new PortcullisError('failed_precondition', 'evidence store is not writable: ENOSPC');
        return { seq: 1, hash: 'h' };
      },
      healthy: () => writable,
      close: async () => undefined,
    };
    const recorder = new Recorder(store);
    const { sessionId } = await recorder.startSession({ identity: 'a', groups: [], target: 't', protocol: 'postgres', client: { address: '::1' }, revision });
    writable = false;
    await expect(recorder.recordDecision({ sessionId, request: request('SELECT 1'), decision: allow })).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(recorder.healthy()).toBe(false);
    await expect(recorder.recordDecision({ sessionId: 'unknown', request: request('SELECT 1'), decision: allow })).rejects.toMatchObject({ code: 'internal' });
  });

  it('parseRecordings names the bad line', () => {
    expect(() => parseRecordings('{"sessionId":"s","seq":1,"request":{},"decision":{}}\n{"oops":1}\n', 'r.jsonl')).toThrow(
      expect.objectContaining({ code: 'invalid_argument', details: expect.objectContaining({ file: 'r.jsonl', line: 2 }) }),
    );
  });
});
