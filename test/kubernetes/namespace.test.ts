/**
 * A write whose object names another namespace than its URL: refused as the API server refuses it
 * (400 BadRequest Status), before anything reaches the cluster. Also: /metrics counts Kubernetes
 * decisions and masked Secret values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, startHarness, type Harness } from '../http/harness.ts';
import { startApiServer, type ApiServer } from '../../runtime/embedded/demo/kubernetes.ts';
import { samplesOf } from '../metrics/prometheus.ts';

let api: ApiServer;
let h: Harness;
let token: string;
let base: string;

const FILES = (url: string) => ({
  'targets/k8s.yaml': `apiVersion: portcullis.dev/v1
kind: Target
metadata: { name: k8s }
spec:
  type: kubernetes
  url: ${url}
  auth: { bearer: { env: K8S_NS_TEST_TOKEN } }
  classification:
    - name: secrets
      secretData: true
      strategy: redact
`,
  'policies/k8s.yaml': `apiVersion: portcullis.dev/v1
kind: Policy
metadata: { name: sandbox }
spec:
  subjects: [{ group: sre-bots }]
  targets: [k8s]
  rules:
    - id: sandbox-writes
      effect: allow
      actions: [create, update, patch]
      resources: [configmaps]
      namespaces: [sandbox]
    - id: read-secrets
      effect: allow
      actions: [get, list]
      resources: [secrets]
      namespaces: [shop]
`,
});

beforeAll(async () => {
  api = await startApiServer();
  h = await startHarness(FILES(api.url), { K8S_NS_TEST_TOKEN: 'cluster-admin-token' });
  token = await h.token('sre-bot');
  base = `${h.gateway.url}/k8s`;
});

afterAll(async () => {
  await h?.close();
  await api?.close();
});

const as = () => ['-H', `Authorization: Bearer ${token}`, '-H', 'content-type: application/json'];

describe('body namespace against URL namespace', () => {
  it('refuses a create whose object names another namespace, as the API server does, and forwards nothing', async () => {
    const before = api.seen.length;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'evil', namespace: 'kube-system' }, data: { a: 'b' } });
    const r = await curl([...as(), '-X', 'POST', '--data', body, `${base}/api/v1/namespaces/sandbox/configmaps`]);
    expect(r.status).toBe(400);
    const status = JSON.parse(r.body);
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    expect(status.message).toMatch(/the namespace of the provided object \("kube-system"\) does not match the namespace sent on the request \("sandbox"\)/);
    expect(api.seen.length).toBe(before);
  });

  it('refuses patches that move the object, as merge patch and as JSON patch', async () => {
    const before = api.seen.length;
    const merge = await curl([
      ...as(),
      '-H',
      'content-type: application/merge-patch+json',
      '-X',
      'PATCH',
      '--data',
      '{"metadata":{"namespace":"kube-system"}}',
      `${base}/api/v1/namespaces/sandbox/configmaps/x`,
    ]);
    expect(merge.status).toBe(400);
    const patch = await curl([
      ...as(),
      '-H',
      'content-type: application/json-patch+json',
      '-X',
      'PATCH',
      '--data',
      '[{"op":"replace","path":"/metadata/namespace","value":"kube-system"}]',
      `${base}/api/v1/namespaces/sandbox/configmaps/x`,
    ]);
    expect(patch.status).toBe(400);
    expect(api.seen.length).toBe(before);
  });

  it('forwards a create whose object names the same namespace, with the body it read', async () => {
    const before = api.seen.length;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ok', namespace: 'sandbox' } });
    const r = await curl([...as(), '-X', 'POST', '--data', body, `${base}/api/v1/namespaces/sandbox/configmaps`]);
    // the test API server has no configmaps: it answers 404, but the request reached it
    expect(r.status).toBe(404);
    expect(api.seen.slice(before).map((s) => `${s.method} ${s.url}`)).toEqual(['POST /api/v1/namespaces/sandbox/configmaps']);
  });
});

describe('metrics', () => {
  it('count Kubernetes decisions and masked Secret values', async () => {
    const r = await curl(['-H', `Authorization: Bearer ${token}`, `${base}/api/v1/namespaces/shop/secrets/db`]);
    expect(r.status).toBe(200);
    const s = samplesOf(await h.runtime.metrics.render());
    expect(s.find((x) => x.name === 'portcullis_decisions_total' && x.labels.protocol === 'kubernetes' && x.labels.target === 'k8s' && x.labels.effect === 'allow')?.value).toBeGreaterThan(0);
    await expect.poll(() => h.runtime.metrics.render().then((t) => samplesOf(t).find((x) => x.name === 'portcullis_masked_values_total' && x.labels.target === 'k8s')?.value ?? 0)).toBeGreaterThan(0);
  });
});
