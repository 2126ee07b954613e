/**
 * One engine request from a point of the policy space (who, where, which action, on what), written
 * as a client would send it, so a counterexample or a permission change can be pasted into psql,
 * curl or kubectl as shown. Used by the invariant search and the permission diff.
 */
import type { TargetType } from '../bundle/model.ts';
import { HttpMethods } from '../bundle/vocabulary.ts';
import type { Request, StatementClass, Subject } from '../engine/request.ts';

export interface Point {
  subject: Subject;
  target: string;
  type: TargetType;
  action: string;
  /** resource names; PostgreSQL statements may read several relations, the first is the one written */
  resources: readonly string[];
  namespace?: string;
  /** UPDATE/DELETE with a WHERE clause */
  where: boolean;
  /** keep a Kubernetes subresource (`pods/exec`) */
  subresource?: boolean;
  at: string;
}

const writes: ReadonlySet<string> = new Set(['insert', 'update', 'delete']);

// PostgreSQL keywords that cannot name a table unquoted (reserved and type-function-name keywords).
const reserved = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation column concurrently ' +
    'constraint create cross current_catalog current_date current_role current_schema current_time current_timestamp current_user default ' +
    'deferrable desc distinct do else end except false fetch for foreign freeze from full grant group having ilike in initially inner ' +
    'intersect into is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on only or ' +
    'order outer overlaps placing primary references returning right select session_user similar some symmetric system_user table ' +
    'tablesample then to trailing true union unique user using variadic verbose when where window with'
  ).split(' '),
);

/** An identifier as SQL text: bare when PostgreSQL reads it back unchanged, else double-quoted. */
export function sqlIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !reserved.has(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function sqlRelation(r: string): string {
  const dot = r.indexOf('.');
  return dot > 0 ? `${sqlIdentifier(r.slice(0, dot))}.${sqlIdentifier(r.slice(dot + 1))}` : sqlIdentifier(r);
}

/**
 * Valid SQL for a statement class over relations (the first is written): several relations are
 * joined the way each statement allows (`DELETE FROM a USING b`, `UPDATE a SET … FROM b`), never as
 * `DELETE FROM a, b`, which PostgreSQL rejects.
 */
export function sqlFor(cls: StatementClass, relations: readonly string[], where: boolean): string {
  const [first = 'x', ...rest] = relations.map(sqlRelation);
  const w = where ? ' WHERE id = 1' : '';
  const list = [first, ...rest].join(', ');
  switch (cls) {
    case 'select':
      return `SELECT * FROM ${list}${w}`;
    case 'insert':
      return rest.length ? `INSERT INTO ${first} SELECT * FROM ${rest.join(', ')}` : `INSERT INTO ${first} DEFAULT VALUES`;
    case 'update':
      return `UPDATE ${first} SET x = 1${rest.length ? ` FROM ${rest.join(', ')}` : ''}${w}`;
    case 'delete':
      return `DELETE FROM ${first}${rest.length ? ` USING ${rest.join(', ')}` : ''}${w}`;
    case 'ddl':
      return `DROP TABLE ${list}`;
    case 'copy':
      return rest.length ? `COPY (SELECT * FROM ${list}) TO STDOUT` : `COPY ${first} TO STDOUT`;
    case 'transaction':
      return 'BEGIN';
    case 'session':
      return 'SET application_name = x';
    case 'admin':
    default:
      return `VACUUM ${list}`;
  }
}

export function sampleRequest(p: Point): Request {
  const base = { subject: p.subject, target: p.target, at: p.at };
  switch (p.type) {
    case 'postgres': {
      const cls = p.action as StatementClass;
      const rels = cls === 'transaction' || cls === 'session' ? [] : [...new Set(p.resources.length ? p.resources : ['public.x'])];
      const relations = rels.map((r, i) => {
        const dot = r.indexOf('.');
        const [schema, name] = dot > 0 ? [r.slice(0, dot), r.slice(dot + 1)] : [undefined, r];
        return { ...(schema ? { schema } : {}), name, access: (writes.has(cls) || cls === 'ddl') && i === 0 ? ('write' as const) : ('read' as const) };
      });
      const hasWhere = cls === 'update' || cls === 'delete' ? p.where : true;
      return { protocol: 'postgres', ...base, statement: { text: sqlFor(cls, rels, hasWhere), class: cls, relations, hasWhere } };
    }
    case 'http': {
      const path = p.resources[0] ?? '/';
      return { protocol: 'http', ...base, method: (HttpMethods as readonly string[]).includes(p.action) ? p.action : 'GET', path: path.startsWith('/') ? path : `/${path}`, query: {} };
    }
    case 'kubernetes': {
      const [resource = 'pods', sub] = (p.resources[0] ?? 'pods').split('/', 2) as [string, string | undefined];
      return {
        protocol: 'kubernetes',
        ...base,
        verb: p.action,
        apiGroup: '',
        apiVersion: 'v1',
        resource,
        ...(sub && p.subresource !== false ? { subresource: sub } : {}),
        ...(p.namespace ? { namespace: p.namespace } : {}),
        name: 'x',
      };
    }
    case 'mcp':
      return { protocol: 'mcp', ...base, method: p.action, name: p.resources[0] ?? 'x' };
  }
}
