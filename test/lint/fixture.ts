/** A small in-memory policy repo for lint tests; each test swaps in the documents it is about. */
import type { SourceFile } from '../../runtime/bundle/load.ts';

export const repository = `apiVersion: portcullis.dev/v1
kind: Repository
metadata: { name: fixture }
spec: { maxGrantTtl: 4h }
`;

export const targets = `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: db }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5432
  database: shop
  user: gw
  password: { env: DB_PASSWORD }
  classification:
    - { name: pii, columns: [customers.email], strategy: partial }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: api }
spec:
  type: http
  url: http://127.0.0.1:8080
  classification:
    - { name: billing, fields: ["$..email"], strategy: redact }
---
apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: k8s }
spec:
  type: kubernetes
  url: http://127.0.0.1:6443
  classification:
    - { name: secrets, secretData: true, strategy: redact }
`;

export const identities = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: bot }
spec: { kind: agent, match: { subject: bot }, groups: [agents] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: alice }
spec: { kind: human, match: { subject: alice }, groups: [dba] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: bob }
spec: { kind: human, match: { subject: bob }, groups: [dba, sre] }
`;

/** A policy for group agents on the given targets with the given rules (YAML list items). */
export function policy(rules: string, opts: { targets?: string; subjects?: string; name?: string; extra?: string } = {}): string {
  return `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: ${opts.name ?? 'p'} }
spec:
  subjects: ${opts.subjects ?? '[{ group: agents }]'}
  targets: ${opts.targets ?? '[db]'}
${opts.extra ?? ''}  rules:
${rules
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
}

/** A working base policy covering every target, so orphan/identity rules stay quiet by default. */
export const basePolicy =
  policy(`- { id: read, effect: allow, actions: [select], resources: [catalog] }`, { name: 'base' }) +
  `---\n` +
  policy(`- { id: get, effect: allow, actions: [GET], resources: ["/x"] }`, { name: 'base-api', targets: '[api]' }) +
  `---\n` +
  policy(`- { id: get, effect: allow, actions: [get], resources: [pods] }`, { name: 'base-k8s', targets: '[k8s]' });

export function repo(files: Record<string, string>): SourceFile[] {
  const all: Record<string, string> = {
    'portcullis.yaml': repository,
    'targets.yaml': targets,
    'identities.yaml': identities,
    'base.yaml': basePolicy,
    ...files,
  };
  return Object.entries(all)
    .filter(([, text]) => text !== '')
    .map(([path, text]) => ({ path, text }));
}
