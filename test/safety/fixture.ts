/** A copy of the example repo with recorded traffic and a CODEOWNERS for its safety files, and unsafe edits of it. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBundle } from '../../runtime/bundle/load.ts';
import { safetyPaths, writeSafetyBlock } from '../../runtime/safety/codeowners.ts';
import { record, tempRepo, writeRecordings, type TempRepo } from '../simulate/helpers.ts';

export const traffic = [
  { as: 'data-agent', target: 'shop-db', sql: "delete from orders where status = 'cancelled'" },
  { as: 'support-agent', target: 'shop-db', sql: 'select id, total from orders where id = 7' },
  { as: 'support-agent', target: 'shop-db', sql: 'select name, email from customers' },
  { as: 'support-agent', target: 'billing-api', http: 'GET /invoices/7?limit=5' },
  { as: 'ops-agent', target: 'k8s-prod', k8s: 'list pods -n shop' },
];

export const allowDeletes = (t: string) =>
  t
    .replace(/- id: deletes-need-dba\n      effect: review/, '- id: deletes-need-dba\n      effect: allow')
    .replace(/      review:\n        approvers: \{ groups: \[dba\], count: 1 \}\n        grant: \{ ttl: 30m \}\n/, '');
export const unclassifyEmail = (t: string) => t.replace('columns: [customers.email, customers.phone, customer_contacts.email]', 'columns: [customers.phone, customer_contacts.email]');
export const dropInvariant = (name: string) => (t: string) =>
  t
    .split('\n---\n')
    .filter((doc) => !doc.includes(`name: ${name}\n`))
    .join('\n---\n');
export const suppressDestructive = (t: string) =>
  allowDeletes(t).replace(
    '      actions: [delete]\n      resources: [orders]\n',
    '      actions: [delete]\n      resources: [orders]\n      suppress:\n        - { rule: destructive-without-review, reason: "cleanup job, reviewed by the data team" }\n',
  );

export async function safetyRepo(): Promise<{ repo: TempRepo; base: string }> {
  const repo = await tempRepo();
  await writeRecordings(repo.dir, await record(repo.dir, traffic));
  const bundle = await loadBundle(repo.dir);
  await mkdir(join(repo.root, '.github'), { recursive: true });
  await writeFile(join(repo.root, '.github/CODEOWNERS'), writeSafetyBlock('* @acme/everyone\n', safetyPaths(bundle, 'policies/', '.github/CODEOWNERS'), ['@acme/policy-owners']));
  const base = repo.commit('recordings and owners');
  return { repo, base };
}
