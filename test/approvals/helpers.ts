import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../../runtime/bundle/load.ts';
import type { Bundle } from '../../runtime/bundle/model.ts';
import { decide } from '../../runtime/engine/decide.ts';
import type { Decision, ReviewRequirement } from '../../runtime/engine/decision.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { FileEvidenceStore } from '../../runtime/evidence/store.ts';
import type { AuthenticatedSubject } from '../../runtime/gateway/context.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import { FileApprovalService, type FileApprovalServiceOptions } from '../../runtime/approvals/index.ts';
import type { ReviewInput } from '../../runtime/approvals/types.ts';

let bundle: Promise<Bundle> | undefined;
export const exampleBundle = () => (bundle ??= loadBundle('policies'));

export interface Fixture {
  dir: string;
  evidence: FileEvidenceStore;
  service: FileApprovalService;
  clock: { now: number };
  /** a review input for `sql` run by data-agent on shop-db, with the review requirement overridden */
  ask(sql: string, opts?: { sessionId?: string; review?: Partial<ReviewRequirement>; as?: string }): Promise<ReviewInput>;
  reopen(opts?: Partial<FileApprovalServiceOptions>): Promise<FileApprovalService>;
  close(): Promise<void>;
}

export async function fixture(opts: Partial<FileApprovalServiceOptions> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-approvals-'));
  const evidence = await FileEvidenceStore.open(join(dir, 'evidence'));
  const clock = { now: Date.parse('2030-01-01T10:00:00Z') };
  const make = (extra: Partial<FileApprovalServiceOptions> = {}) => FileApprovalService.open({ dataDir: dir, evidence, now: () => clock.now, sweepIntervalMs: 60_000, ...opts, ...extra });
  let service = await make();
  const b = await exampleBundle();
  return {
    dir,
    evidence,
    clock,
    get service() {
      return service;
    },
    async ask(sql, o = {}) {
      const [request] = buildRequests(b, { as: o.as ?? 'data-agent', target: 'shop-db', sql, at: new Date(clock.now).toISOString() }) as [Request];
      const decision: Decision = decide(b, request);
      if (decision.effect !== 'review' || !decision.review) throw new Error(`expected review, got ${decision.effect}: ${decision.reason}`);
      const review: ReviewRequirement = { ...decision.review, ...o.review };
      for (const [k, v] of Object.entries(o.review ?? {})) if (v === undefined) delete (review as unknown as Record<string, unknown>)[k];
      return { subject: request.subject, sessionId: o.sessionId ?? 'sess-1', target: 'shop-db', request, decision: { ...decision, review } };
    },
    async reopen(extra = {}) {
      await service.close();
      service = await make(extra);
      return service;
    },
    async close() {
      await service.close();
      await evidence.close();
      await rm(dir, { recursive: true, force: true });
    },
  } as Fixture;
}

export function human(identity: string, groups: string[], kind: 'human' | 'agent' = 'human'): AuthenticatedSubject {
  return { identity, groups, kind, tokenSubject: identity, issuer: 'test', expiresAt: new Date(Date.now() + 3600_000) };
}

export const alice = human('alice', ['dba', 'finance']);
export const carol = human('carol', ['dba']);
export const bob = human('bob', ['sre']);
