/**
 * `portcullis lint --catalog postgres://...` against the harness database: a classification naming
 * no column is an error at its line, and a superuser backend role (the harness's) a warning.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { pgInfo } from '../harness/postgres.ts';
import { portcullis } from '../evidence-cli/cli.ts';

let dir: string;

beforeAll(async () => {
  const pg = pgInfo();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-live-lint-'));
  await cp(resolve(import.meta.dirname, '../../policies'), dir, { recursive: true });
  await writeFile(
    join(dir, 'targets', 'live-db.yaml'),
    `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: live-db }
spec:
  type: postgres
  host: ${pg.host}
  port: ${pg.port}
  database: ${pg.sampleDatabase}
  user: ${pg.user}
  password: { env: LIVE_DB_PASSWORD }
  classification:
    - name: government-id
      columns:
        - customers.ssn
        - customers.social_security_no
      strategy: redact
`,
  );
  await writeFile(
    join(dir, 'policies', 'live.yaml'),
    `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: live-readers }
spec:
  subjects: [{ group: agents }]
  targets: [live-db]
  rules:
    - id: read-masked
      effect: allow
      actions: [select]
      resources: [customers]
      mask:
        - columns: [customers.email, customers.nickname]
          strategy: hash
`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a classification naming no column is an error; a superuser role a warning', async () => {
  const pg = pgInfo();
  const url = `postgres://${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/${pg.sampleDatabase}`;
  const r = await portcullis(['lint', dir, '--catalog', url, '--catalog-target', 'live-db', '--format', 'json']);
  expect(r.code, r.stderr).toBe(1);
  const report = JSON.parse(r.stdout) as { findings: { rule: string; severity: string; message: string; file: string; line: number }[] };
  const missing = report.findings.filter((f) => f.rule === 'classification-matches-no-column');
  expect(missing).toHaveLength(2);
  const [inTarget, inRule] = [missing.find((f) => f.file.endsWith('live-db.yaml')), missing.find((f) => f.file.endsWith('live.yaml'))];
  expect(inTarget).toMatchObject({ severity: 'error', line: 15 });
  expect(inTarget!.message).toContain('customers.social_security_no');
  expect(inRule).toMatchObject({ severity: 'error', line: 13 });
  expect(inRule!.message).toContain("rule 'read-masked' masks column 'customers.nickname'");
  expect(report.findings.filter((f) => f.rule === 'superuser-backend-role')).toMatchObject([{ severity: 'warning', line: 9 }]);
});

test('an unreachable database is a clear error, not a stack trace', async () => {
  const r = await portcullis(['lint', dir, '--catalog', 'postgres://nobody:x@127.0.0.1:1/none', '--catalog-target', 'live-db']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/cannot connect to the database given with --catalog/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});
