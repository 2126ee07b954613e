/**
 * `portcullis lint --catalog postgres://...`: the checks that need a live database, kept apart from
 * the pure rules of the catalogue. A classification that names no column of the database protects
 * nothing (a typo, a renamed column the gateway never saw): it is an error, never silence. A target
 * whose backend role is a superuser can read server files and relation storage: a warning.
 */
import pg from 'pg';
import { readPolicyFiles } from '../bundle/load.ts';
import { resolve as resolvePath } from 'node:path';
import { buildContext } from './context.ts';
import { loadSnapshot } from '../sql/catalog.ts';
import { compileColumnPattern } from '../engine/pattern.ts';
import { PortcullisError } from '../errors.ts';
import type { Postgres } from '../../schema/types.ts';
import type { Finding } from './types.ts';

export const LIVE_CATALOG_RULES = {
  'classification-matches-no-column': 'A classification names a column no relation of the database has',
  'superuser-backend-role': "A target's backend role is a superuser",
} as const;

/** Whether a classification's or mask's column pattern names one of the database's `schema.table.column`s, as the masking plan matches it. */
export function matchesAnyColumn(pattern: string, columns: readonly string[]): boolean {
  const column = compileColumnPattern(pattern);
  return columns.some((name) => column.test(name));
}

export async function lintLiveCatalog(dir: string, url: string, onlyTarget?: string): Promise<Finding[]> {
  const root = resolvePath(dir);
  const ctx = buildContext(root, await readPolicyFiles(dir));
  const targets = [...(ctx.bundle?.targets.values() ?? [])].filter((t) => t.doc.spec.type === 'postgres' && (!onlyTarget || t.doc.metadata.name === onlyTarget));
  if (onlyTarget && targets.length === 0) {
    throw new PortcullisError('not_found', `no postgres target named '${onlyTarget}'`, { details: { hint: "name one of the repo's postgres targets with --catalog-target" } });
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new PortcullisError('unavailable', `cannot connect to the database given with --catalog: ${(err as Error).message}`, {
      details: { hint: 'pass a postgres:// URL the linter can reach, with a role that may read the catalog' },
    });
  }
  try {
    const snapshot = await loadSnapshot(async (sql) => (await client.query(sql)).rows as Array<Record<string, string | null>>);
    const columns = snapshot.relations.filter((r) => r.schema !== 'pg_catalog' && r.schema !== 'information_schema').flatMap((r) => r.columns.map((c) => `${r.schema}.${r.name}.${c.name}`));
    const database = (await client.query<{ db: string }>('select current_database() as db')).rows[0]?.db ?? '?';
    const findings: Finding[] = [];
    for (const t of targets) {
      const spec = t.doc.spec as Postgres;
      const at = (pointer: string) => ({ file: t.origin.file, ...t.origin.locate(pointer) });
      (spec.classification ?? []).forEach((c, ci) => {
        (c.columns ?? []).forEach((pattern, pi) => {
          if (matchesAnyColumn(pattern, columns)) return;
          findings.push({
            rule: 'classification-matches-no-column',
            severity: 'error',
            message: `classification '${c.name}' of target '${t.doc.metadata.name}' names column '${pattern}', which matches no column in database ${database}`,
            ...at(`/spec/classification/${ci}/columns/${pi}`),
            hint: 'correct the name (a renamed column?) or remove the entry; a classification that matches nothing masks nothing',
          });
        });
      });
      // a rule's own mask columns, where the rule applies to this target
      for (const e of ctx.facts?.rules ?? []) {
        if (!e.targets.some((x) => x.doc.metadata.name === t.doc.metadata.name)) continue;
        (e.rule.mask ?? []).forEach((m, mi) => {
          (m.columns ?? []).forEach((pattern, pi) => {
            if (matchesAnyColumn(pattern, columns)) return;
            findings.push({
              rule: 'classification-matches-no-column',
              severity: 'error',
              message: `rule '${e.rule.id}' masks column '${pattern}', which matches no column of target '${t.doc.metadata.name}' in database ${database}`,
              file: e.policy.origin.file,
              ...e.policy.origin.locate(`${e.pointer}/mask/${mi}/columns/${pi}`),
              hint: 'correct the name (a renamed column?) or remove the entry; a mask that matches nothing masks nothing',
            });
          });
        });
      }
      const role = await client.query<{ rolsuper: boolean }>('select rolsuper from pg_catalog.pg_roles where rolname = $1', [spec.user]);
      if (role.rows[0]?.rolsuper) {
        findings.push({
          rule: 'superuser-backend-role',
          severity: 'warning',
          message: `target '${t.doc.metadata.name}' connects as '${spec.user}', a superuser: it can read server files and any table's storage`,
          ...at('/spec/user'),
          hint: 'give the gateway a role that is not a superuser, with only the privileges agents need',
        });
      }
    }
    return findings;
  } finally {
    await client.end().catch(() => {});
  }
}
