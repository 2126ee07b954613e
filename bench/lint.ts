/**
 * Lint a generated repo of 1,000 files (targets, identities, policies, tests) and time it; the
 * budget is 2 seconds. Run with `npx tsx bench/lint.ts [FILES]`; exits 1 over budget.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintRepo } from '../runtime/lint/run.ts';

const files = Number(process.argv[2] ?? 1000);
const budgetMs = 2000;

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
  // The first run also pays for compiling the JSON Schemas once per process; both are reported.
  const coldStart = performance.now();
  await lintRepo(dir);
  const cold = Math.round(performance.now() - coldStart);
  const started = performance.now();
  const report = await lintRepo(dir);
  const ms = Math.round(performance.now() - started);
  const verdict = ms <= budgetMs ? 'ok' : 'OVER BUDGET';
  process.stdout.write(`lint: ${report.files} files, ${report.findings.length} findings (${report.counts.error} errors) in ${ms} ms (first run ${cold} ms; budget ${budgetMs} ms) ${verdict}\n`);
  process.exitCode = ms <= budgetMs ? 0 : 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
