/**
 * A synthetic policy repo of N rules shaped like a large organisation's: ten rules a policy, ten
 * policies a target, a group for every five policies, identities in two groups, a mix of exact and
 * glob resources, conditions and masks. Every generated request names a rule that exists, so the
 * engine does real matching work rather than falling through to default deny.
 */
import { compileBundle, type SourceFile } from '../runtime/bundle/load.ts';
import { formatDiagnostic } from '../runtime/bundle/diagnostics.ts';
import type { Bundle } from '../runtime/bundle/model.ts';
import type { PostgresRequest, StatementClass } from '../runtime/engine/request.ts';

const header = 'apiVersion: portcullis.dev/v1';
const RULES_PER_POLICY = 10;
const POLICIES_PER_TARGET = 10;
const POLICIES_PER_GROUP = 5;
const TABLES_PER_TARGET = 40;
const actions: StatementClass[] = ['select', 'insert', 'update', 'delete'];

export interface GeneratedBundle {
  bundle: Bundle;
  rules: number;
  targets: number;
  groups: number;
  policies: number;
  files: number;
  compileMs: number;
  requests: PostgresRequest[];
}

/** Deterministic so every run of the bench decides the same requests. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Planned {
  target: number;
  group: number;
  action: StatementClass;
  table: string;
}

export function generateBundle(ruleCount: number, requestCount = 4096): GeneratedBundle {
  const rnd = lcg(ruleCount);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const policies = Math.max(1, Math.ceil(ruleCount / RULES_PER_POLICY));
  const targets = Math.max(1, Math.ceil(policies / POLICIES_PER_TARGET));
  const groups = Math.max(1, Math.ceil(policies / POLICIES_PER_GROUP));
  const files: SourceFile[] = [];

  for (let t = 0; t < targets; t++) {
    files.push({
      path: `targets/db-${t}.yaml`,
      text: `${header}
kind: Target
metadata: { name: db-${t}, labels: { env: prod, team: t${t % 7} } }
spec:
  type: postgres
  host: 127.0.0.1
  port: 5432
  database: app${t}
  user: gateway
  password: { env: DB_PASSWORD }
  classification:
    - { name: pii, columns: [customers.email, "*.ssn"], strategy: partial }
`,
    });
  }
  // An agent sits in its own team, a neighbouring one and the catch-all group.
  const groupsOf = (g: number) => [...new Set([`team-${g}`, `team-${(g + 1) % groups}`, 'agents'])];
  const identityDocs: string[] = [];
  for (let g = 0; g < groups; g++) {
    identityDocs.push(`${header}
kind: Identity
metadata: { name: agent-${g} }
spec: { kind: agent, match: { subject: agent-${g} }, groups: [${groupsOf(g).join(', ')}] }`);
  }
  files.push({ path: 'identities/agents.yaml', text: identityDocs.join('\n---\n') + '\n' });

  const planned: Planned[] = [];
  let made = 0;
  for (let p = 0; p < policies; p++) {
    // A team's policies cover different targets, so each (target, group) pair holds about one
    // policy whatever the bundle's size: what grows is the bundle, not the rules a request can hit.
    const target = p % targets;
    const group = Math.floor(p / POLICIES_PER_GROUP) % groups;
    const rules: string[] = [];
    for (let r = 0; r < RULES_PER_POLICY && made < ruleCount; r++, made++) {
      const action = pick(actions);
      const tableNo = Math.floor(rnd() * TABLES_PER_TARGET);
      const table = `t${tableNo}`;
      const roll = rnd();
      // Mostly exact tables, some globs and schema-qualified names, as real policy repos mix them.
      const resource = roll < 0.15 ? `"t${tableNo}*"` : roll < 0.25 ? `public.${table}` : table;
      const effect = rnd() < 0.8 ? 'allow' : rnd() < 0.5 ? 'deny' : 'review';
      const extras: string[] = [];
      if (effect === 'review') extras.push('      review: { approvers: { groups: [dba] } }');
      if (effect === 'allow' && action === 'select' && rnd() < 0.3) extras.push('      when: { maxRows: 1000 }');
      if (effect === 'allow' && (action === 'update' || action === 'delete')) extras.push('      when: { requireWhere: true }');
      if (effect === 'allow' && action === 'select' && rnd() < 0.2) extras.push('      mask: [{ columns: [customers.phone], strategy: hash }]');
      rules.push(`    - id: r${r}\n      effect: ${effect}\n      actions: [${action}]\n      resources: [${resource}]${extras.length ? '\n' + extras.join('\n') : ''}`);
      planned.push({ target, group, action, table });
    }
    files.push({
      path: `policies/team-${group}/p${p}.yaml`,
      text: `${header}
kind: Policy
metadata: { name: p${String(p).padStart(5, '0')} }
spec:
  subjects: [{ group: team-${group} }]
  targets: [db-${target}]
rules_placeholder
`.replace('rules_placeholder', `  rules:\n${rules.join('\n')}`),
    });
  }
  files.push({ path: 'identities/humans.yaml', text: `${header}\nkind: Identity\nmetadata: { name: dba-1 }\nspec: { kind: human, match: { subject: dba-1 }, groups: [dba] }\n` });

  const started = performance.now();
  const result = compileBundle('/bench-repo', files, { git: { commit: 'b0b0000000000000000000000000000000000000', dirty: false } });
  const compileMs = performance.now() - started;
  if (!result.bundle) {
    throw new Error(`generated bundle of ${ruleCount} rules does not compile:\n${result.diagnostics.slice(0, 5).map(formatDiagnostic).join('\n')}`);
  }

  const requests: PostgresRequest[] = [];
  for (let i = 0; i < requestCount; i++) {
    const p = pick(planned);
    const cls = p.action;
    requests.push({
      protocol: 'postgres',
      subject: { identity: `agent-${p.group}`, groups: groupsOf(p.group) },
      target: `db-${p.target}`,
      at: '2026-11-25T10:00:00Z',
      statement: {
        text: `${cls} ... ${p.table}`,
        class: cls,
        relations: [{ name: p.table, access: cls === 'select' ? 'read' : 'write' }],
        columns: [{ relation: p.table, column: 'id' }],
        hasWhere: true,
      },
    });
  }
  return { bundle: result.bundle, rules: result.bundle.index.ruleCount, targets, groups, policies, files: files.length, compileMs, requests };
}
