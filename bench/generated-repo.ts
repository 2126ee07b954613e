/**
 * A generated policy repo of `files` files (targets, identities, policies, tests in teams of five),
 * shared by the lint and permission-diff benchmarks so both time the same repo.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function writeGeneratedRepo(dir: string, files: number): Promise<void> {
  const teams = Math.max(1, Math.floor(files / 5));
  await mkdir(join(dir, 'targets'));
  await mkdir(join(dir, 'identities'));
  await mkdir(join(dir, 'policies'));
  await mkdir(join(dir, 'tests'));
  await writeFile(join(dir, 'portcullis.yaml'), 'apiVersion: portcullis.dev/v1\nkind: Repository\nmetadata: { name: bench }\nspec: { maxGrantTtl: 4h }\n');
  await writeFile(
    join(dir, 'identities', 'approvers.yaml'),
    'apiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: alice }\nspec: { kind: human, match: { subject: alice }, groups: [dba] }\n',
  );
  let written = 2;
  for (let t = 0; written < files; t++) {
    const team = `team-${t}`;
    const docs: [string, string][] = [
      [
        `targets/${team}.yaml`,
        `apiVersion: portcullis.dev/v1\nkind: Target\nmetadata: { name: db-${t}, labels: { team: "${team}" } }\nspec:\n  type: postgres\n  host: 127.0.0.1\n  port: 5432\n  database: d${t}\n  user: gw\n  password: { env: DB_${t} }\n  classification:\n    - { name: pii, columns: [customers.email, "*.ssn"], strategy: redact }\n`,
      ],
      [`identities/${team}.yaml`, `apiVersion: portcullis.dev/v1\nkind: Identity\nmetadata: { name: agent-${t} }\nspec: { kind: agent, match: { subject: agent-${t} }, groups: [agents, ${team}] }\n`],
      [
        `policies/${team}-read.yaml`,
        `apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: { name: ${team}-read }\nspec:\n  subjects: [{ group: ${team} }]\n  targets: [db-${t}]\n  rules:\n${Array.from({ length: 8 }, (_, i) => `    - { id: read-${i}, effect: allow, actions: [select], resources: [t${i}_a, t${i}_b], when: { maxRows: 100, statementPattern: "^select [a-z_, ]+ from t${i}_[ab]( where .*)?$" } }\n`).join('')}    - { id: writes, effect: review, actions: [delete, update], resources: [t0_a], review: { approvers: { groups: [dba] }, grant: { ttl: 30m } } }\n    - { id: no-ddl, effect: deny, actions: [ddl, admin] }\n`,
      ],
      [
        `policies/${team}-write.yaml`,
        `apiVersion: portcullis.dev/v1\nkind: Policy\nmetadata: { name: ${team}-write }\nspec:\n  subjects: [{ identity: agent-${t} }]\n  targets: { labels: { team: "${team}" } }\n  rules:\n    - { id: insert, effect: allow, actions: [insert], resources: [events] }\n    - { id: correct, effect: allow, actions: [update], resources: [events], when: { requireWhere: true } }\n`,
      ],
      [
        `tests/${team}.yaml`,
        `apiVersion: portcullis.dev/v1\nkind: PolicyTest\nmetadata: { name: ${team} }\nspec:\n  cases:\n    - { name: reads, as: agent-${t}, target: db-${t}, sql: "select id from t0_a", expect: { effect: allow, rules: [${team}-read/read-0] } }\n    - { name: no ddl, as: agent-${t}, target: db-${t}, sql: "drop table t0_a", expect: { effect: deny } }\n`,
      ],
    ];
    for (const [path, text] of docs) {
      if (written >= files) break;
      await writeFile(join(dir, path), text);
      written++;
    }
    if (t > teams * 2) break;
  }
}
