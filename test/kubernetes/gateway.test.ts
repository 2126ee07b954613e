/**
 * The Kubernetes side end to end: a test API server, the real runtime, curl and kubectl (with a
 * kubeconfig from `portcullis kubeconfig`) through the gateway.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestAttributes } from '../../runtime/protocols/kubernetes/attributes.ts';
import { startHttpGateway, type HttpGateway } from '../../runtime/gateway/http-listener.ts';
import { curl, run, startHarness, type Harness } from '../http/harness.ts';
import { SECRET_VALUE, startApiServer, type ApiServer } from '../../runtime/embedded/demo/kubernetes.ts';

let api: ApiServer;
let h: Harness;
let base: string;
let tlsGateway: HttpGateway;
const tokens: Record<string, string> = {};
const kubeconfigs: Record<string, string> = {};
const SECRET_B64 = Buffer.from(SECRET_VALUE).toString('base64');

const policies = (url: string) => ({
  'targets/k8s.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: k8s }
spec:
  type: kubernetes
  url: ${url}
  auth: { bearer: { env: K8S_TEST_TOKEN } }
  classification:
    - name: secrets
      secretData: true
      strategy: redact
`,
  'policies/platform.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: platform-read }
spec:
  subjects: [{ group: agents }]
  targets: [k8s]
  rules:
    - id: read-workloads
      effect: allow
      actions: [get, list, watch]
      resources: [pods, pods/log]
      namespaces: [shop]
    - id: exec-needs-sre
      effect: review
      actions: [create, get]
      resources: [pods/exec, pods/attach]
      review: { approvers: { groups: [sre] } }
    - id: no-deletes
      effect: deny
      actions: [delete, deletecollection]
---
apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: sre-bots }
spec:
  subjects: [{ group: sre-bots }]
  targets: [k8s]
  rules:
    - id: read-secrets
      effect: allow
      actions: [get, list, watch]
      resources: [secrets, pods]
      namespaces: [shop]
    - id: exec
      effect: allow
      actions: [create, get]
      resources: [pods/exec]
      namespaces: [shop]
`,
});

beforeAll(async () => {
  api = await startApiServer();
  h = await startHarness(policies(api.url), { K8S_TEST_TOKEN: 'cluster-admin-token' });
  base = `${h.gateway.url}/k8s`;
  // kubectl sends tokens only over TLS: a self-signed certificate for 127.0.0.1
  const cert = join(h.dir, 'gw.pem');
  const key = join(h.dir, 'gw.key');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  tlsGateway = await startHttpGateway(h.runtime.ctx, { port: 0, maskKey: h.runtime.maskKey, tls: { cert: await readFile(cert), key: await readFile(key) } });
  for (const who of ['ops-agent', 'sre-bot']) {
    tokens[who] = await h.token(who);
    const { stdout } = await run('npx', ['tsx', 'cli/portcullis.ts', 'kubeconfig', '--target', 'k8s', '--gateway', tlsGateway.url, '--ca-file', cert, '--subject', who, '--data-dir', h.dataDir]);
    kubeconfigs[who] = join(h.dir, `${who}.kubeconfig`);
    await writeFile(kubeconfigs[who]!, stdout);
  }
}, 60_000);

afterAll(async () => {
  await tlsGateway?.close();
  await h?.close();
  await api?.close();
});

const as = (who: string) => ['-H', `Authorization: Bearer ${tokens[who]}`];

async function kubectl(who: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('kubectl', ['--kubeconfig', kubeconfigs[who]!, '--request-timeout=10s', ...args], { env: { ...process.env, HOME: h.dir } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('request attributes as the API server derives them', () => {
  const q = (s = '') => new URLSearchParams(s);
  it.each([
    ['GET', '/api/v1/namespaces/shop/pods', '', { verb: 'list', resource: 'pods', namespace: 'shop', apiVersion: 'v1', apiGroup: '' }],
    ['GET', '/api/v1/namespaces/shop/pods', 'watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/watch/namespaces/shop/pods', '', { verb: 'watch', resource: 'pods', namespace: 'shop' }],
    ['GET', '/api/v1/namespaces/shop/pods/web-1', '', { verb: 'get', resource: 'pods', name: 'web-1' }],
    ['GET', '/api/v1/namespaces/shop/pods/web-1/log', '', { verb: 'get', resource: 'pods', subresource: 'log', name: 'web-1' }],
    ['POST', '/api/v1/namespaces/shop/pods/web-1/exec', '', { verb: 'create', subresource: 'exec' }],
    ['GET', '/api/v1/namespaces/shop/pods/web-1/attach', '', { verb: 'get', subresource: 'attach' }],
    ['POST', '/api/v1/namespaces/shop/pods/web-1/portforward', '', { verb: 'create', subresource: 'portforward' }],
    ['DELETE', '/api/v1/namespaces/shop/pods', '', { verb: 'deletecollection', resource: 'pods' }],
    ['DELETE', '/api/v1/namespaces/shop/pods/web-1', '', { verb: 'delete', name: 'web-1' }],
    ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web/scale', '', { verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', subresource: 'scale' }],
    ['PUT', '/apis/apps/v1/namespaces/shop/deployments/web/status', '', { verb: 'update', subresource: 'status' }],
    ['GET', '/api/v1/secrets', '', { verb: 'list', resource: 'secrets' }],
    ['GET', '/api/v1/namespaces/shop', '', { verb: 'get', resource: 'namespaces', name: 'shop', namespace: 'shop' }],
    ['PUT', '/api/v1/namespaces/shop/finalize', '', { verb: 'update', resource: 'namespaces', subresource: 'finalize', name: 'shop' }],
    ['GET', '/api/v1/namespaces/shop/pods', 'fieldSelector=metadata.name%3Dweb-1&watch=1', { verb: 'watch', name: 'web-1' }],
  ])('%s %s?%s', (method, path, query, expected) => {
    expect(requestAttributes(method, path, q(query))).toMatchObject({ kind: 'resource', ...expected });
  });

  it('treats short and unknown prefixes as non-resource URLs', () => {
    expect(requestAttributes('GET', '/api/v1', q())).toMatchObject({ kind: 'non-resource', verb: 'get' });
    expect(requestAttributes('GET', '/apis/apps/v1', q())).toMatchObject({ kind: 'non-resource' });
    expect(requestAttributes('GET', '/healthz/etcd/x', q())).toMatchObject({ kind: 'non-resource' });
  });
});

describe('with curl', () => {
  it('lists pods for an agent allowed to, with the cluster credential injected', async () => {
    const r = await curl([...as('ops-agent'), `${base}/api/v1/namespaces/shop/pods`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['web-1', 'web-2']);
    expect(api.seen.at(-1)).toMatchObject({ url: '/api/v1/namespaces/shop/pods', authorization: 'Bearer cluster-admin-token' });
  });

  it('refuses with a Kubernetes Status object naming the rule', async () => {
    const r = await curl([...as('ops-agent'), '-X', 'DELETE', `${base}/api/v1/namespaces/shop/pods/web-1`]);
    expect(r.status).toBe(403);
    const s = JSON.parse(r.body);
    expect(s).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(s.message).toContain('platform-read/no-deletes');
    expect(api.seen.some((x) => x.method === 'DELETE')).toBe(false);
  });

  it('answers 401 as a Status with WWW-Authenticate', async () => {
    const r = await curl([`${base}/api/v1/namespaces/shop/pods`]);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toContain('Bearer');
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });

  it('masks Secret data in get (including the last-applied annotation)', async () => {
    const r = await curl([...as('sre-bot'), `${base}/api/v1/namespaces/shop/secrets/db`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain(SECRET_B64);
    const s = JSON.parse(r.body);
    expect(Buffer.from(s.data.password, 'base64').toString()).toBe('***');
    expect(Object.keys(s.data)).toEqual(['password', 'username']);
    expect(s.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).not.toContain(SECRET_B64);
  });

  it('masks Secret data in list items that carry no kind', async () => {
    const r = await curl([...as('sre-bot'), `${base}/api/v1/namespaces/shop/secrets`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain(SECRET_B64);
    expect(JSON.parse(r.body).items).toHaveLength(2);
  });

  it('masks each event of a watch stream as it streams', async () => {
    const r = await curl([...as('sre-bot'), '-N', `${base}/api/v1/namespaces/shop/secrets?watch=true`]);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain(SECRET_B64);
    const events = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e: { type: string }) => e.type)).toEqual(['ADDED', 'MODIFIED']);
    expect(Buffer.from(events[0].object.data.password, 'base64').toString()).toBe('***');
  });

  it('needs review (refused for now) for an agent reading secrets without a rule', async () => {
    const r = await curl([...as('ops-agent'), `${base}/api/v1/namespaces/shop/secrets/db`]);
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(SECRET_B64);
  });

  it('refuses upgrades other than exec/attach/portforward', async () => {
    const r = await curl([
      ...as('sre-bot'),
      '-H',
      'Connection: Upgrade',
      '-H',
      'Upgrade: websocket',
      '-H',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      '-H',
      'Sec-WebSocket-Version: 13',
      `${base}/api/v1/namespaces/shop/secrets?watch=true`,
    ]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).kind).toBe('Status');
  });
});

describe('with kubectl and a kubeconfig from portcullis kubeconfig', () => {
  it('gets pods (allowed)', async () => {
    const r = await kubectl('ops-agent', ['get', 'pods', '-n', 'shop', '-o', 'name']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['pod/web-1', 'pod/web-2']);
  });

  it('shows a Secret with its data masked', async () => {
    const r = await kubectl('sre-bot', ['get', 'secret', 'db', '-n', 'shop', '-o', 'jsonpath={.data.password}']);
    expect(r.code).toBe(0);
    expect(Buffer.from(r.stdout, 'base64').toString()).toBe('***');
  });

  it('prints the rule when a delete is denied', async () => {
    const r = await kubectl('ops-agent', ['delete', 'pod', 'web-1', '-n', 'shop']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Forbidden');
    expect(r.stderr).toContain('platform-read/no-deletes');
  });

  it('reads logs', async () => {
    const r = await kubectl('ops-agent', ['logs', 'web-1', '-n', 'shop']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('connected to db');
  });

  it('runs exec when policy allows it and records the stream', async () => {
    const r = await kubectl('sre-bot', ['exec', '-n', 'shop', 'web-1', '--', 'echo', 'hi']);
    expect(r.stdout, r.stderr).toBe('hello from web-1\n');
    expect(r.code).toBe(0);
    const decisions = await h.evidence(['decision']);
    const exec = decisions.find((d) => d.data.request.subresource === 'exec' && d.data.request.subject.identity === 'sre-bot');
    expect(exec!.data.request).toMatchObject({ protocol: 'kubernetes', verb: expect.stringMatching(/^(create|get)$/), resource: 'pods', name: 'web-1', namespace: 'shop' });
    expect(exec!.data.decision.effect).toBe('allow');
  });

  it('refuses exec that needs review', async () => {
    const before = api.seen.filter((s) => s.url.includes('/exec')).length;
    const r = await kubectl('ops-agent', ['exec', '-n', 'shop', 'web-1', '--', 'echo', 'hi']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/platform-read\/exec-needs-sre|Forbidden|forbidden/);
    expect(api.seen.filter((s) => s.url.includes('/exec')).length).toBe(before);
  });
});
