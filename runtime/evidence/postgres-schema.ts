/**
 * Tables of the PostgreSQL evidence store, shared by every replica writing to one state database.
 *
 * `data` is `json`, not `jsonb`: json keeps the exact canonical text that was hashed (jsonb would
 * reorder keys, rewrite numbers and reject `\u0000`, and a record it cannot store would stall the
 * whole chain). `ts` is text for the same reason: it is hashed as written. The one-row head table is
 * the chain's tip and its lock: a writer holds it `FOR UPDATE` for the length of a batch.
 */
import type pg from 'pg';
import { GENESIS } from './record.ts';

export const EVIDENCE_TABLE = 'portcullis_evidence';
export const HEAD_TABLE = 'portcullis_evidence_head';

/** Any constant: serialises concurrent first starts, whose CREATE IF NOT EXISTS would race. */
const SCHEMA_LOCK = 0x70637573; // "pcus"

const DDL = `
CREATE TABLE IF NOT EXISTS ${EVIDENCE_TABLE} (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  ts text NOT NULL,
  type text NOT NULL,
  data json NOT NULL,
  prev text NOT NULL,
  hash text NOT NULL,
  replica text NOT NULL
);
CREATE INDEX IF NOT EXISTS ${EVIDENCE_TABLE}_type ON ${EVIDENCE_TABLE} (type, seq);
CREATE TABLE IF NOT EXISTS ${HEAD_TABLE} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq bigint NOT NULL,
  hash text NOT NULL,
  since_checkpoint integer NOT NULL DEFAULT 0,
  checkpoint_at_ms bigint NOT NULL DEFAULT 0
);
-- The interval of the first checkpoint counts from the chain's creation, not from 1970.
INSERT INTO ${HEAD_TABLE} (id, seq, hash, checkpoint_at_ms) VALUES (true, 0, '${GENESIS}', (extract(epoch FROM now()) * 1000)::bigint) ON CONFLICT (id) DO NOTHING;
`;

export async function ensureEvidenceSchema(client: pg.Client): Promise<void> {
  await applySchema(client, SCHEMA_LOCK, DDL);
}

/** Runs DDL once per state database even when several replicas start together (an advisory lock). */
export async function applySchema(client: pg.ClientBase, lockKey: number, ddl: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
