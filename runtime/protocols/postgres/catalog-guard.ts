/**
 * The catalog check carried by the statement itself. A statement decided from a cached verdict on a
 * catalog with masks needs proof that the catalog did not change since the moment it arrived. The
 * catalog connection can give that proof, at the price of a round trip before every statement. The
 * agent's own backend connection can give it in the same round trip as the statement: the gateway
 * sends, right before the statement and without a Sync in between, the Execute of a small query
 * that fails when the catalog moved (the probe or epoch the catalog last vouched for differs). A
 * failed extended-protocol message makes PostgreSQL skip everything up to the next Sync, so on a
 * moved catalog the statement never runs; the gateway then checks on the catalog connection and
 * sends the statement again (or decides it again when the catalog did change).
 *
 * The guard runs in the backend after the gateway forwarded it, which is after the statement
 * arrived: a pass proves the catalog was current at a moment after arrival. It is used only where
 * its answer is that of the statement's own transaction start: an idle backend (no open
 * transaction, nothing in flight), so the guard's snapshot is taken after arrival in every
 * isolation level.
 */
import { bind, close as closeMsg, execute, parse } from './wire/serialize.ts';
import type { StatementClass } from '../../engine/request.ts';

export interface GuardCheck {
  mode: 'probe' | 'epoch';
  /** the catalog's check query (one row, column `fingerprint`) */
  sql: string;
  /** its answer while the catalog is unchanged */
  expected: string;
}

/** Statements a guard may precede: a pipelined implicit transaction is fine for them (not for VACUUM, COPY, DDL). */
export const GUARDED_CLASSES: ReadonlySet<StatementClass> = new Set<StatementClass>(['select', 'insert', 'update', 'delete']);

/**
 * The gateway's own statement and portal names on an agent's connection. A client that drops them
 * only makes the next guard fail (closed); one that could create them could make every guard pass,
 * so client messages and SQL naming them are refused (isReservedName).
 */
const RESERVED = 'portcullis\u0001';
const STATEMENT = `${RESERVED}guard:`;
const PORTAL = `${RESERVED}guard`;

export function isReservedName(name: string): boolean {
  return name.startsWith(RESERVED);
}

/** A failed cast, not `1/0`: the planner would fold a constant division and fail every time. */
function guardSql(check: GuardCheck): string {
  return `select case when g.fingerprint = $1 then 0 else ('portcullis: catalog changed ' || g.fingerprint)::int4 end from (${check.sql}) g`;
}

/** The guard's messages on one backend connection: prepared once, bound with the expected answer per statement. */
export class CatalogGuard {
  /** statement names prepared on this connection */
  private readonly prepared = new Set<string>();
  /** a guard failed: whether the prepared statements still exist is unknown */
  private unsure = false;
  /** Bind and Execute for the last expected answer: it changes only when the catalog does */
  private bound: { name: string; expected: string; bytes: Buffer } | undefined;

  messages(check: GuardCheck): Buffer[] {
    const name = STATEMENT + check.mode;
    const out: Buffer[] = [];
    if (this.unsure) {
      // Close of a statement that does not exist is no error; Parse over one that does is.
      for (const n of this.prepared) out.push(closeMsg('S', n));
      out.push(closeMsg('S', name));
      this.prepared.clear();
      this.unsure = false;
    }
    if (!this.prepared.has(name)) {
      out.push(parse(name, guardSql(check)));
      this.prepared.add(name);
    }
    if (this.bound?.name !== name || this.bound.expected !== check.expected) {
      this.bound = { name, expected: check.expected, bytes: Buffer.concat([bind({ portal: PORTAL, statement: name, params: [check.expected] }), execute(PORTAL, 0)]) };
    }
    out.push(this.bound.bytes);
    return out;
  }

  failed(): void {
    this.unsure = true;
  }
}

/** A statement a catalog guard went ahead of: what to send again if the guard fails. */
export type GuardedBody<Exec> = {
  /** the batch is on its way (simple: at once; extended: once the client's Sync went): later messages wait */
  sent: boolean;
} & ({ kind: 'query'; sql: string; raw: Buffer; execs: Exec[] } | { kind: 'execute'; portal: string; raw: Buffer; bindRaw: Buffer; exec: Exec });

/** The guarded statement until its guard passed or it was sent again; messages after it wait. */
export class GuardedStatement<Exec> {
  /** the guard failed and the backend skipped to the Sync: the statement waits for that Sync's answer */
  failed = false;
  private done = false;
  /** made only when a message waits behind the guard (a pipelining client) */
  private waiting: Promise<void> | undefined;
  private release: (() => void) | undefined;

  constructor(readonly statement: GuardedBody<Exec>) {}

  settled(): Promise<void> {
    if (this.done) return Promise.resolve();
    return (this.waiting ??= new Promise<void>((r) => (this.release = r)));
  }

  settle(): void {
    this.done = true;
    this.release?.();
  }
}
