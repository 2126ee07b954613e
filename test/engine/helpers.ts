import { compileBundle, type SourceFile } from '../../runtime/bundle/load.ts';
import type { Bundle } from '../../runtime/bundle/model.ts';
import { formatDiagnostic } from '../../runtime/bundle/diagnostics.ts';
import type { PostgresRequest, StatementClass } from '../../runtime/engine/request.ts';

export function bundleOf(files: Record<string, string>): Bundle {
  const list: SourceFile[] = Object.entries(files).map(([path, text]) => ({ path, text }));
  const r = compileBundle('/repo', list, { git: { commit: 'c0ffee0000000000000000000000000000000000', dirty: false } });
  if (!r.bundle) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.bundle;
}

export function pg(
  identity: string,
  groups: readonly string[],
  cls: StatementClass,
  relations: { name: string; schema?: string; access?: 'read' | 'write' }[],
  extra: { hasWhere?: boolean; text?: string; at?: string; target?: string } = {},
): PostgresRequest {
  return {
    protocol: 'postgres',
    subject: { identity, groups },
    target: extra.target ?? 'db',
    at: extra.at ?? '2026-11-25T10:00:00Z',
    statement: {
      text: extra.text ?? `${cls} ...`,
      class: cls,
      relations: relations.map((r) => ({ ...r, access: r.access ?? (cls === 'select' ? 'read' : 'write') })),
      hasWhere: extra.hasWhere ?? true,
    },
  };
}

export const header = 'apiVersion: portcullis.dev/v1';

export const dbTarget = `${header}
kind: Target
metadata: { name: db, labels: { env: prod } }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5432
  database: app
  user: app
  password: { env: DB_PASSWORD }
  classification:
    - name: pii
      columns: [customers.email]
      strategy: partial
`;

export const identities = `${header}
kind: Identity
metadata: { name: bot }
spec: { kind: agent, match: { subject: bot }, groups: [agents] }
---
${header}
kind: Identity
metadata: { name: admin }
spec: { kind: human, match: { subject: admin }, groups: [dba] }
`;

export function policy(name: string, rules: string, extra = ''): string {
  return `${header}
kind: Policy
metadata: { name: ${name} }
spec:
  subjects: [{ group: agents }]
  targets: [db]
${extra}  rules:
${rules}`;
}
