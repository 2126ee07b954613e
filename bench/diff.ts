/**
 * The permission diff of a generated repo of 1,000 files (the lint benchmark's repo) against itself
 * with one rule widened, timed. Run with `npx tsx bench/diff.ts [FILES]`.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../runtime/bundle/load.ts';
import { permissionDiff } from '../runtime/diff/permissions.ts';

const files = Number(process.argv[2] ?? 1000);

const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-lint-'));
try {
  const teams = Math.max(1, Math.floor(files / 5));
  await mkdir(join(dir, 'targets'));
  await mkdir(join(dir, 'identities'));
  await mkdir(join(dir, 'policies'));
  await mkdir(join(dir, 'tests'));
  await writeFile(join(dir, 'portcullis.yaml'), 'apiVersion: portcullis.dev/v1\nkind: Repository\nmetadata: { name: bench }\nspec: { maxGrantTtl: 4h }\n');
  await writeFile(join(dir, 'identities', 'approvers.yaml'), 'apiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: alice }\nspec: { kind: human, match: { subject: alice }, groups: [dba] }\n');
  let written = 2;
  for (let t = 0; written < files; t++) {
    const team = `team-${t}`;
    const docs: [string, string][] = [
      [`targets/${team}.yaml`, `apiVersion: portcullis.dev/v1\nkind: Target\nmetadata: { name: db-${t}, labels: { team: "${team}" } }\nspec:\n  type: postgres\n  host: 127.0.0.1\n  port: 5432\n  database: d${t}\n  user: gw\n  password: { env: DB_${t} }\n  classification:\n    - { name: pii, columns: [customers.email, "*.ssn"], strategy: redact }\n`],
      [`identities/${team}.yaml`, `apiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: agent-${t} }\nspec: { kind: agent, match: { subject: agent-${t} }, groups: [agents, ${team}] }\n`],
      [`policies/${team}-read.yaml`, `apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: { name: ${team}-read }\nspec:\n  subjects: [{ group: ${team} }]\n  targets: [db-${t}]\n  rules:\n${Array.from({ length: 8 }, (_, i) => `    - { id: read-${i}, effect: allow, actions: [select], resources: [t${i}_a, t${i}_b], when: { maxRows: 100, statementPattern: "^select [a-z_, ]+ from t${i}_[ab]( where .*)?$" } }\n`).join('')}    - { id: writes, effect: review, actions: [delete, update], resources: [t0_a], review: { approvers: { groups: [dba] }, grant: { ttl: 30m } } }\n    - { id: no-ddl, effect: deny, actions: [ddl, admin] }\n`],
      [`policies/${team}-write.yaml`, `apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: { name: ${team}-write }\nspec:\n  subjects: [{ identity: agent-${t} }]\n  targets: { labels: { team: "${team}" } }\n  rules:\n    - { id: insert, effect: allow, actions: [insert], resources: [events] }\n    - { id: correct, effect: allow, actions: [update], resources: [events], when: { requireWhere: true } }\n`],
      [`tests/${team}.yaml`, `apiVersion: portcullis.dev/v1\nkind: PolicyTest\nmetadata: { name: ${team} }\nspec:\n  cases:\n    - { name: reads, as: agent-${t}, target: db-${t}, sql: "select id from t0_a", expect: { effect: allow, rules: [${team}-read/read-0] } }\n    - { name: no ddl, as: agent-${t}, target: db-${t}, sql: "drop table t0_a", expect: { effect: deny } }\n`],
    ];
    for (const [path, text] of docs) {
      if (written >= files) break;
      await writeFile(join(dir, path), text);
      written++;
    }
    if (t > teams * 2) break;
  }
  const base = await loadBundle(dir);
  const widened = join(dir, 'policies', 'team-0-write.yaml');
  await writeFile(widened, (await readFile(widened, 'utf8')).replace('actions: [insert], resources: [events] }', 'actions: [insert], resources: [events, orders] }'));
  const head = await loadBundle(dir);
  const started = performance.now();
  const diff = permissionDiff(base, head);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(`permission diff of ${files} files: ${diff.points} requests decided twice in ${ms} ms; ${diff.widened} widening(s): ${diff.changes.filter((c) => c.direction === 'widen').map((c) => `${c.identities.join(',')} ${c.action} ${c.resource} on ${c.target}`).join('; ')}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
