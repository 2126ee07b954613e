/**
 * A real evidence log as a gateway and its approval service write it: the example repo live at
 * commit A, then a tightened copy at commit B, then a gateway restart on B. Decisions come from the
 * real engine, sessions from the Recorder, approvals and grants from the FileApprovalService.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileApprovalService } from '../../runtime/approvals/index.ts';
import { loadBundle } from '../../runtime/bundle/load.ts';
import type { Bundle } from '../../runtime/bundle/model.ts';
import { decide } from '../../runtime/engine/decide.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { FileEvidenceStore, readEvidence } from '../../runtime/evidence/index.ts';
import type { AuthenticatedSubject } from '../../runtime/gateway/context.ts';
import { Recorder } from '../../runtime/recording/index.ts';
import { buildRequests } from '../../runtime/requests/build.ts';

export const COMMIT_A = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1';
export const COMMIT_B = 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2';

export interface EvidenceFixture {
  dataDir: string;
  a: Bundle;
  b: Bundle;
  /** ts of B's first bundle.loaded record */
  bLoadedAt: string;
  /** ts of the record just before the restart's bundle.loaded */
  beforeRestart: string;
  restartAt: string;
  approvalIds: { granted: string; denied: string; expired: string };
  close(): Promise<void>;
}

const human = (identity: string, groups: string[]): AuthenticatedSubject => ({ identity, groups, kind: 'human', tokenSubject: identity, issuer: 'test', expiresAt: new Date(Date.now() + 3600_000) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function buildFixture(): Promise<EvidenceFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pc-evidence-report-'));
  const tightened = join(dataDir, 'policies-b');
  await cp('policies', tightened, { recursive: true });
  const support = join(tightened, 'policies', 'support.yaml');
  await writeFile(support, (await readFile(support, 'utf8')).replace('resources: [orders, customers, customer_contacts, products]', 'resources: [orders, customers, products]'));
  const a = await loadBundle('policies', { git: { commit: COMMIT_A, dirty: false } });
  const b = await loadBundle(tightened, { git: { commit: COMMIT_B, dirty: false } });

  const store = await FileEvidenceStore.open(join(dataDir, 'evidence'), { checkpointEvery: 7 });
  const recorder = new Recorder(store);
  const clock = { now: Date.now() };
  const approvals = await FileApprovalService.open({ dataDir, evidence: store, now: () => clock.now, sweepIntervalMs: 3_600_000 });

  const ask = async (bundle: Bundle, sessionId: string, as: string, target: string, line: { sql?: string; http?: string; k8s?: string }, maskedValues?: number) => {
    const [request] = buildRequests(bundle, { as, target, ...line }) as [Request];
    const decision: Decision = decide(bundle, request);
    const { seq } = await recorder.recordDecision({ sessionId, request, decision });
    if (maskedValues !== undefined) await recorder.recordResult({ sessionId, seq, status: 'ok', durationMs: 3, rows: 2, maskedValues });
    return { request, decision, seq };
  };
  const start = (bundle: Bundle, identity: string, groups: string[], target: string, protocol: 'postgres' | 'http' | 'kubernetes') =>
    recorder.startSession({ identity, groups, target, protocol, client: { address: '127.0.0.1' }, revision: bundle.revision });

  // Commit A goes live.
  await store.append('bundle.loaded', { revision: a.revision, previous: null, files: a.files.length });
  const s1 = (await start(a, 'support-agent', ['agents', 'support'], 'shop-db', 'postgres')).sessionId;
  await ask(a, s1, 'support-agent', 'shop-db', { sql: 'select name, email, phone from customers where id = 7' }, 3);
  await ask(a, s1, 'support-agent', 'shop-db', { sql: 'select email from customer_contacts where customer_id = 7' }, 1);
  await ask(a, s1, 'support-agent', 'shop-db', { sql: 'delete from orders where id = 1' });
  await ask(a, s1, 'support-agent', 'shop-db', { sql: 'drop table orders' });
  await recorder.endSession({ sessionId: s1, reason: 'client-closed' });

  const s2 = (await start(a, 'data-agent', ['agents', 'data'], 'shop-db', 'postgres')).sessionId;
  const del = await ask(a, s2, 'data-agent', 'shop-db', { sql: 'delete from orders where id = 5' });
  const granted = await approvals.request({ subject: del.request.subject, sessionId: s2, target: 'shop-db', request: del.request, decision: del.decision });
  await approvals.approve(granted.id, human('alice', ['dba', 'finance']), 'ticket 42');
  await recorder.recordResult({ sessionId: s2, seq: del.seq, status: 'ok', durationMs: 2, rows: 1, maskedValues: 0 });
  await ask(a, s2, 'data-agent', 'shop-db', { sql: 'select id, email from customers' }, 4);
  await recorder.endSession({ sessionId: s2, reason: 'client-closed' });

  // Commit B replaces it.
  await sleep(15);
  const bLoaded = await store.append('bundle.loaded', { revision: b.revision, previous: a.revision, files: b.files.length });
  const s3 = (await start(b, 'support-agent', ['agents', 'support'], 'shop-db', 'postgres')).sessionId;
  await ask(b, s3, 'support-agent', 'shop-db', { sql: 'select email from customer_contacts where customer_id = 7' });
  await ask(b, s3, 'support-agent', 'shop-db', { sql: 'select name, email from customers where id = 8' }, 2);
  await recorder.endSession({ sessionId: s3, reason: 'client-closed' });
  const s4 = (await start(b, 'support-agent', ['agents', 'support'], 'billing-api', 'http')).sessionId;
  await ask(b, s4, 'support-agent', 'billing-api', { http: 'DELETE /invoices/7' });
  await ask(b, s4, 'support-agent', 'billing-api', { http: 'GET /invoices/2030/1?limit=10' }, 5);
  const refund = await ask(b, s4, 'support-agent', 'billing-api', { http: 'POST /refunds' });
  const expiring = await approvals.request({ subject: refund.request.subject, sessionId: s4, target: 'billing-api', request: refund.request, decision: refund.decision });
  await recorder.endSession({ sessionId: s4, reason: 'client-closed' });
  const s5 = (await start(b, 'ops-agent', ['agents', 'ops'], 'k8s-prod', 'kubernetes')).sessionId;
  const secret = await ask(b, s5, 'ops-agent', 'k8s-prod', { k8s: 'get secrets db-password -n shop' });
  const denied = await approvals.request({ subject: secret.request.subject, sessionId: s5, target: 'k8s-prod', request: secret.request, decision: secret.decision });
  await approvals.deny(denied.id, human('bob', ['sre']), 'use the vault');
  await ask(b, s5, 'ops-agent', 'k8s-prod', { k8s: 'delete pods web-1 -n shop' });
  await recorder.endSession({ sessionId: s5, reason: 'client-closed' });
  // The refund request lapses (15 minutes), then the delete grant (30 minutes).
  clock.now += 16 * 60_000;
  await approvals.sweep();
  clock.now += 16 * 60_000;
  await approvals.sweep();

  // The gateway restarts on B.
  await sleep(15);
  const restart = await store.append('bundle.loaded', { revision: b.revision, previous: null, files: b.files.length });
  const s6 = (await start(b, 'support-agent', ['agents', 'support'], 'shop-db', 'postgres')).sessionId;
  await ask(b, s6, 'support-agent', 'shop-db', { sql: 'update orders set status = 1 where id = 2' });

  await approvals.close();
  await recorder.endAll('gateway-shutdown');
  await store.close();

  let bLoadedAt = '';
  let restartAt = '';
  let beforeRestart = '';
  let previous = '';
  for await (const r of readEvidence(join(dataDir, 'evidence'))) {
    if (r.seq === bLoaded.seq) bLoadedAt = r.ts;
    if (r.seq === restart.seq) {
      restartAt = r.ts;
      beforeRestart = previous;
    }
    previous = r.ts;
  }
  return {
    dataDir,
    a,
    b,
    bLoadedAt,
    beforeRestart,
    restartAt,
    approvalIds: { granted: granted.id, denied: denied.id, expired: expiring.id },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}
