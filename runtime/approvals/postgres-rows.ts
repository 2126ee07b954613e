/**
 * Tables of the PostgreSQL approval store, in the same state database as the evidence chain, and
 * the mapping between their rows and `ApprovalRequest` / `Grant`.
 *
 * Each row keeps the whole object as `json` (not `jsonb`: a request may hold text jsonb rejects,
 * such as `\u0000`) beside the columns that queries filter and lock on. Approvals given so far live
 * in their own table whose primary key (request, approver) makes counting one approver twice
 * impossible even if a caller forgot the rule check.
 */
import { applySchema } from '../evidence/postgres-schema.ts';
import type pg from 'pg';
import type { ApprovalRequest, ApproverAction, Grant } from './types.ts';

export const REQUESTS = 'portcullis_approval_requests';
export const APPROVALS = 'portcullis_approvals';
export const GRANTS = 'portcullis_grants';
/** LISTEN/NOTIFY channel; the payload is the id of a request that stopped being pending. */
export const SETTLED_CHANNEL = 'portcullis_approval_settled';

/** Not the evidence schema's lock: the two stores may be created concurrently on a first start. */
const SCHEMA_LOCK = 0x70636170; // "pcap"

const DDL = `
CREATE TABLE IF NOT EXISTS ${REQUESTS} (
  id text PRIMARY KEY,
  status text NOT NULL,
  requester text NOT NULL,
  target text NOT NULL,
  request_hash text NOT NULL,
  one_shot boolean NOT NULL,
  consumed boolean NOT NULL DEFAULT false,
  created_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,
  decided_ms bigint,
  replica text NOT NULL,
  doc json NOT NULL
);
CREATE INDEX IF NOT EXISTS ${REQUESTS}_ask ON ${REQUESTS} (requester, target, request_hash);
CREATE INDEX IF NOT EXISTS ${REQUESTS}_status ON ${REQUESTS} (status, expires_ms);
CREATE TABLE IF NOT EXISTS ${APPROVALS} (
  request_id text NOT NULL REFERENCES ${REQUESTS} (id) ON DELETE CASCADE,
  approver text NOT NULL,
  n integer NOT NULL,
  at text NOT NULL,
  note text,
  PRIMARY KEY (request_id, approver)
);
CREATE TABLE IF NOT EXISTS ${GRANTS} (
  id text PRIMARY KEY,
  approval_id text NOT NULL,
  identity text NOT NULL,
  target text NOT NULL,
  policy text NOT NULL,
  rule text NOT NULL,
  scope text NOT NULL,
  session_id text,
  replica text NOT NULL,
  expires_ms bigint NOT NULL,
  ended_ms bigint,
  doc json NOT NULL
);
CREATE INDEX IF NOT EXISTS ${GRANTS}_live ON ${GRANTS} (identity, target) WHERE ended_ms IS NULL;
`;

export async function ensureApprovalSchema(client: pg.ClientBase): Promise<void> {
  await applySchema(client, SCHEMA_LOCK, DDL);
}

const ms = (iso: string | undefined) => (iso === undefined ? null : Date.parse(iso));

/**
 * Reads requests with their approvals. Called after any `FOR UPDATE` in a separate statement: under
 * READ COMMITTED each statement takes a fresh snapshot, so it sees approvals committed by whoever
 * held the lock before.
 */
export async function loadRequests(c: pg.ClientBase, where: string, values: unknown[], tail = ''): Promise<ApprovalRequest[]> {
  const r = await c.query(
    `SELECT r.doc,
       COALESCE((SELECT json_agg(json_strip_nulls(json_build_object('identity', a.approver, 'at', a.at, 'note', a.note)) ORDER BY a.n)
                 FROM ${APPROVALS} a WHERE a.request_id = r.id), '[]'::json) AS approvals
     FROM ${REQUESTS} r WHERE ${where} ${tail}`,
    values,
  );
  return r.rows.map((row: { doc: ApprovalRequest; approvals: ApproverAction[] }) => ({ ...row.doc, approvals: row.approvals }));
}

/** Inserts or updates a request; its approvals are written by `addApproval`, never from the object. */
export async function saveRequest(c: pg.ClientBase, r: ApprovalRequest, replica: string): Promise<void> {
  const { approvals: _approvals, ...doc } = r;
  await c.query(
    `INSERT INTO ${REQUESTS} (id, status, requester, target, request_hash, one_shot, consumed, created_ms, expires_ms, decided_ms, replica, doc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (id) DO UPDATE SET status = $2, consumed = $7, expires_ms = $9, decided_ms = $10, doc = $12`,
    [
      r.id,
      r.status,
      r.requester.identity,
      r.target,
      r.requestHash,
      r.grantTtlMs === undefined,
      r.consumedAt !== undefined,
      ms(r.createdAt),
      ms(r.expiresAt),
      ms(r.decidedAt),
      replica,
      JSON.stringify(doc),
    ],
  );
}

export async function addApproval(c: pg.ClientBase, id: string, a: ApproverAction, n: number): Promise<void> {
  await c.query(`INSERT INTO ${APPROVALS} (request_id, approver, n, at, note) VALUES ($1, $2, $3, $4, $5)`, [id, a.identity, n, a.at, a.note ?? null]);
}

export async function saveGrant(c: pg.ClientBase, g: Grant, replica: string): Promise<void> {
  await c.query(
    `INSERT INTO ${GRANTS} (id, approval_id, identity, target, policy, rule, scope, session_id, replica, expires_ms, ended_ms, doc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (id) DO UPDATE SET ended_ms = $11, doc = $12`,
    [g.id, g.approvalId, g.identity, g.target, g.rule.policy, g.rule.rule, g.scope, g.sessionId ?? null, replica, ms(g.expiresAt), ms(g.endedAt), JSON.stringify(g)],
  );
}

export async function loadGrants(c: pg.ClientBase, where: string, values: unknown[], tail = ''): Promise<Grant[]> {
  const r = await c.query(`SELECT doc FROM ${GRANTS} WHERE ${where} ${tail}`, values);
  return r.rows.map((row: { doc: Grant }) => row.doc);
}
