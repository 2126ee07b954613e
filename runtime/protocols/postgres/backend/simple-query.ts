/**
 * The gateway's own catalog lookups on a dedicated backend connection: one simple Query, text
 * results. Not for agent traffic, which is forwarded frame by frame instead.
 */
import { PortcullisError } from '../../../errors.ts';
import { decodeCommandComplete, decodeDataRow, decodeError, decodeParameterStatus, decodeRowDescription, type FieldDescription } from '../wire/backend.ts';
import { copyFail, query } from '../wire/serialize.ts';
import type { BackendConnection } from './connect.ts';
import { FrameSource } from './frame-source.ts';

export interface SimpleQueryResult {
  fields: FieldDescription[];
  rows: (string | null)[][];
  /** Command tag of the last statement, e.g. "SELECT 3". */
  command: string;
}

const queues = new WeakMap<BackendConnection, Promise<unknown>>();

/** Runs `sql` (one or more statements; the last result set is returned). Calls on one connection are serialised. */
export function simpleQuery(conn: BackendConnection, sql: string): Promise<SimpleQueryResult> {
  const prev = queues.get(conn) ?? Promise.resolve();
  const run = prev.catch(() => {}).then(() => runQuery(conn, sql));
  queues.set(conn, run);
  return run;
}

async function runQuery(conn: BackendConnection, sql: string): Promise<SimpleQueryResult> {
  const where = `backend ${conn.host}:${conn.port}`;
  const src = new FrameSource(conn.socket, where, conn.leftover);
  conn.leftover = Buffer.alloc(0);
  let result: SimpleQueryResult = { fields: [], rows: [], command: '' };
  let error: PortcullisError | undefined;
  try {
    conn.socket.write(query(sql));
    for (;;) {
      const frame = await src.next();
      switch (frame.type) {
        case 'RowDescription':
          result = { fields: decodeRowDescription(frame.body), rows: [], command: '' };
          break;
        case 'DataRow':
          result.rows.push(decodeDataRow(frame.body).map((v) => (v === null ? null : v.toString('utf8'))));
          break;
        case 'CommandComplete':
          result.command = decodeCommandComplete(frame.body);
          break;
        case 'ErrorResponse': {
          const e = decodeError(frame.body);
          error ??= new PortcullisError('internal', `catalog query on ${where} failed: ${e.message} (SQLSTATE ${e.code})`, {
            details: { sqlstate: e.code },
          });
          break;
        }
        case 'ParameterStatus': {
          const p = decodeParameterStatus(frame.body);
          conn.serverParams.set(p.name, p.value);
          break;
        }
        case 'CopyInResponse':
          conn.socket.write(copyFail('COPY FROM STDIN is not supported by simpleQuery'));
          break;
        case 'ReadyForQuery':
          if (error) throw error;
          return result;
        default:
          break; // notices, notifications, EmptyQueryResponse, COPY OUT data: nothing to collect
      }
    }
  } finally {
    conn.leftover = src.detach();
  }
}
