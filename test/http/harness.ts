/**
 * A throwaway policy repo, the real gateway runtime (bundle, dev issuer, evidence store, recorder)
 * and the HTTP listener on a free port, for tests that drive it with curl, undici and kubectl.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGatewayRuntime, type GatewayRuntime } from '../../runtime/gateway/runtime.ts';
import { startHttpGateway, type HttpGateway } from '../../runtime/http/gateway.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { flushResults } from '../../runtime/http/session.ts';
import { readEvidence } from '../../runtime/evidence/index.ts';

export const run = promisify(execFile);

const REPOSITORY = `apiVersion: portcullis.dev/v1
kind: Repository
metadata: { name: test-repo }
spec: {}
`;

const IDENTITIES = `apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: support-agent }
spec: { kind: agent, match: { subject: support-agent }, groups: [agents, support] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: ops-agent }
spec: { kind: agent, match: { subject: ops-agent }, groups: [agents, ops] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: sre-bot }
spec: { kind: agent, match: { subject: sre-bot }, groups: [sre-bots] }
---
apiVersion: portcullis.dev/v1
kind: Identity
metadata: { name: alice }
spec: { kind: human, match: { subject: alice }, groups: [finance, sre] }
`;

export interface Harness {
  dir: string;
  dataDir: string;
  runtime: GatewayRuntime;
  gateway: HttpGateway;
  token(subject: string, ttl?: string): Promise<string>;
  /** evidence records of the given types, in order */
  evidence(types?: string[]): Promise<{ type: string; data: any }[]>;
  close(): Promise<void>;
}

/** `files` are repo-relative paths -> YAML; identities and the Repository document are added. */
export async function startHarness(files: Record<string, string>, env: Record<string, string> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-http-'));
  const repo = join(dir, 'policies');
  const dataDir = join(dir, 'data');
  await mkdir(join(repo, 'identities'), { recursive: true });
  await writeFile(join(repo, 'portcullis.yaml'), REPOSITORY);
  await writeFile(join(repo, 'identities', 'agents.yaml'), IDENTITIES);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, '..'), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  const logs: unknown[] = [];
  // deliberately permissive test policies (allow-all DML for agents): not what the lint gate is tested on
  const runtime = await startGatewayRuntime({ policies: repo, dataDir, acceptLintErrors: true, log: (event, fields) => logs.push({ event, ...fields }) });
  if (!runtime.ctx.bundle()) {
    await runtime.close();
    throw new Error(`test policy repo did not load: ${JSON.stringify(logs)}`);
  }
  const gateway = await startHttpGateway(runtime.ctx, { host: '127.0.0.1', port: 0, maskKey: runtime.maskKey });
  return {
    dir,
    dataDir,
    runtime,
    gateway,
    async token(subject, ttl = '15m') {
      return (await issueToken({ dataDir, subject, ttl })).token;
    },
    async evidence(types) {
      // results wait briefly to share a group commit with the next decision; the test wants them now
      await flushResults(runtime.ctx);
      const out: { type: string; data: any }[] = [];
      for await (const r of readEvidence(join(dataDir, 'evidence'), types ? { types } : {})) out.push({ type: r.type, data: r.data });
      return out;
    },
    async close() {
      await gateway.close();
      await runtime.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** curl with the usual flags: status and headers on stderr-free stdout, body separated. */
export async function curl(args: string[]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-D', '-', '--max-time', '20', ...args], { maxBuffer: 64 << 20 });
  // with -D - the header blocks (one per response, e.g. 100 Continue) precede the body
  let rest = stdout;
  let status = 0;
  let headers: Record<string, string> = {};
  while (/^HTTP\/[\d.]+ \d{3}/.test(rest)) {
    const end = rest.indexOf('\r\n\r\n');
    const block = rest.slice(0, end);
    rest = rest.slice(end + 4);
    const [statusLine, ...lines] = block.split('\r\n');
    status = Number(statusLine!.split(' ')[1]);
    headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
  }
  return { status, headers, body: rest };
}
