/**
 * What the CLI says when a command is incomplete or mistyped, as a user meets it: missing arguments
 * named, did-you-mean for commands, subcommands and `--explain` ids, unique id prefixes accepted
 * (ambiguous ones refused clearly), a hint that names flags that exist, and YAML syntax findings
 * that are one per mistake with a hint about that mistake.
 */
import { mkdtemp, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../runtime/engine/decide.ts';
import type { Request } from '../../runtime/engine/request.ts';
import { buildRequests } from '../../runtime/requests/build.ts';
import type { ApprovalRequest } from '../../runtime/approvals/types.ts';
import { gatewayFixture, type GatewayFixture } from '../admin/gateway-fixture.ts';
import { portcullis } from '../evidence-cli/cli.ts';

let g: GatewayFixture;
let first: ApprovalRequest;
let second: ApprovalRequest;
let sessionId: string;

async function ask(sql: string): Promise<ApprovalRequest> {
  const [request] = buildRequests(g.bundle, { as: 'data-agent', target: 'shop-db', sql }) as [Request];
  return g.approvals.request({ subject: request.subject, sessionId: 'cli-msg', target: 'shop-db', request, decision: decide(g.bundle, request) });
}

beforeAll(async () => {
  g = await gatewayFixture();
  first = await ask('DELETE FROM orders WHERE id = 11');
  second = await ask('DELETE FROM orders WHERE id = 12');
  sessionId = await g.recordSession('support-agent', [{ sql: 'SELECT id FROM orders LIMIT 1' }]);
}, 60_000);
afterAll(async () => g?.close());

describe.concurrent('missing arguments and typos', () => {
  it.each([
    [['approvals', 'approve'], /approvals approve needs the approval id/, /portcullis approvals approve APPROVAL_ID/],
    [['sessions', 'show'], /sessions show needs the session id/, /portcullis sessions show SESSION_ID/],
    [['token'], /token needs a subcommand: issue/, /portcullis token issue --subject NAME/],
    [['approvals', 'aprove', 'x'], /unknown approvals subcommand 'aprove'; did you mean 'approve'\?/, /approvals list/],
    [['aprovals'], /unknown command 'aprovals'; did you mean 'approvals'\?/, /Commands:/],
    [['lint', '--explain', 'wildcard-allow'], /no lint rule 'wildcard-allow'/, /did you mean 'wildcard-allow-for-agents'\?/],
    [['lint', '--explain', 'shadowd-rule'], /no lint rule 'shadowd-rule'/, /did you mean 'shadowed-rule'\?/],
  ])('portcullis %j', async (args, message, hint) => {
    const r = await portcullis(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(hint);
  });

  it("lint's hint for a missing folder names how lint takes it, not a flag lint lacks", async () => {
    const r = await portcullis(['lint', 'no-such-folder']);
    expect(r.stderr).toContain('portcullis lint DIR');
    expect(r.stderr).not.toMatch(/e\.g\. --policies/);
  });
});

describe('id prefixes', () => {
  it('approvals show, approve and deny take a unique prefix, with or without ap-', async () => {
    const token = await g.token('alice');
    const short = first.id.slice(3, 9);
    const show = await portcullis(['approvals', 'show', short, '--admin', g.admin.url, '--token', token]);
    expect(show.stderr).toBe('');
    expect(show.stdout).toContain(first.id);
    expect(show.stdout).toContain('reason     (none given by the agent)');
    const deny = await portcullis(['approvals', 'deny', second.id.slice(0, 9), '--reason', 'not today', '--admin', g.admin.url, '--token', token]);
    expect(deny.stdout).toBe(`denied ${second.id}\n`);
    const offline = await portcullis(['approvals', 'show', short, '--data-dir', g.dataDir]);
    expect(offline.stdout).toContain(first.id);
  });

  it('an ambiguous or unknown prefix is an error that says so', async () => {
    const token = await g.token('alice');
    const both = await portcullis(['approvals', 'show', 'ap-', '--admin', g.admin.url, '--token', token]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/ap- is ambiguous: 2 approval requests start with it/);
    expect(both.stderr).toContain(first.id);
    const none = await portcullis(['approvals', 'show', 'zzz', '--data-dir', g.dataDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no approval request zzz/);
  });

  it('sessions show takes a unique prefix', async () => {
    const r = await portcullis(['sessions', 'show', sessionId.slice(0, 10), '--data-dir', g.dataDir]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(sessionId);
  });
});

describe('YAML syntax findings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pc-yaml-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  async function lintWith(file: string, text: string) {
    const repo = join(dir, String(Math.random()).slice(2));
    await cp('policies', repo, { recursive: true });
    await writeFile(join(repo, file), text);
    const r = await portcullis(['lint', repo, '--format', 'json']);
    return (JSON.parse(r.stdout).findings as { rule: string; message: string; hint?: string }[]).filter((f) => f.rule === 'yaml-syntax');
  }

  it('one missing colon is one finding, with a hint about the colon and none about duplicated keys', async () => {
    const findings = await lintWith(
      'policies/extra.yaml',
      `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: extra }
spec:
  subjects: [{ group: support }]
  targets: [shop-db]
  rules
    - id: read
      effect: allow
      actions: [select]
      resources: [orders]
`,
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]!.hint).toMatch(/missing its colon/);
    expect(findings[0]!.hint).not.toMatch(/duplicat/);
  });

  it('a duplicated key says so', async () => {
    const findings = await lintWith(
      'policies/extra.yaml',
      `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: extra }
spec:
  subjects: [{ group: support }]
  targets: [shop-db]
  targets: [billing-api]
  rules: [{ id: read, effect: allow, actions: [select], resources: [orders] }]
`,
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]!.hint).toMatch(/twice in one mapping/);
  });
});
