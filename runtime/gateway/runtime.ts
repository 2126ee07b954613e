/**
 * The gateway process: one live bundle, one token verifier, one evidence store and recorder,
 * shared by every protocol listener through a GatewayContext.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PortcullisError } from '../errors.ts';
import type { Bundle } from '../bundle/model.ts';
import { tryLoadBundle } from '../bundle/load.ts';
import { formatDiagnostic } from '../bundle/diagnostics.ts';
import { shortRevision } from '../bundle/revision.ts';
import { createTokenVerifier, type TokenVerifier, type JwksSource } from '../identity/verify.ts';
import { resolveIdentity, type IdentitySpec } from '../identity/resolve.ts';
import { ensureDevIssuer } from '../identity/dev-key.ts';
import { FileEvidenceStore } from '../evidence/store.ts';
import { Recorder } from '../recording/recorder.ts';
import type { AuthenticatedSubject, GatewayContext } from './context.ts';

export interface IdentityProviderConfig {
  issuer: string | string[];
  audience: string;
  jwks: JwksSource;
}

export interface GatewayRuntimeOptions {
  policies: string;
  dataDir: string;
  /** trusted token issuer; default: the development issuer under the data dir */
  identity?: IdentityProviderConfig;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export interface GatewayRuntime {
  ctx: GatewayContext;
  dataDir: string;
  /** load the policy repo again; a bad bundle keeps the last good one live */
  reload(): Promise<{ ok: boolean; revision?: string; errors?: string[] }>;
  maskKey: Buffer;
  close(): Promise<void>;
}

const identityCache = new WeakMap<Bundle, IdentitySpec[]>();

function identitiesOf(bundle: Bundle): IdentitySpec[] {
  const hit = identityCache.get(bundle);
  if (hit) return hit;
  const specs: IdentitySpec[] = [...bundle.identities.values()].map((i) => ({
    name: i.doc.metadata.name,
    kind: i.doc.spec.kind,
    // the schema's index signature allows undefined values; YAML never produces them
    match: i.doc.spec.match as IdentitySpec['match'],
    groups: i.doc.spec.groups ?? [],
  }));
  identityCache.set(bundle, specs);
  return specs;
}

/** A secret the gateway keeps across restarts (the hash-masking key), created on first use. */
async function persistentKey(dataDir: string, name: string): Promise<Buffer> {
  const path = join(dataDir, name);
  try {
    return Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
  } catch {
    const key = randomBytes(32);
    await writeFile(path, key.toString('hex') + '\n', { mode: 0o600 });
    return key;
  }
}

export async function startGatewayRuntime(opts: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = opts.log ?? ((event, fields) => process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`));

  let live: Bundle | undefined;
  const store = await FileEvidenceStore.open(join(dataDir, 'evidence'));
  const recorder = new Recorder(store);

  const reload = async () => {
    try {
      const r = await tryLoadBundle(opts.policies);
      if (!r.bundle) {
        const errors = r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
        log('bundle.rejected', { errors: errors.length, first: errors[0] });
        await store.append('bundle.rejected', { errors, live: live ? live.revision : null }).catch(() => {});
        return { ok: false, errors };
      }
      live = r.bundle;
      log('bundle.loaded', { revision: shortRevision(live.revision), rules: live.index.ruleCount });
      await store.append('bundle.loaded', { revision: live.revision, files: live.files.length }).catch(() => {});
      return { ok: true, revision: shortRevision(live.revision) };
    } catch (err) {
      const e = PortcullisError.from(err);
      log('bundle.rejected', { error: e.message });
      return { ok: false, errors: [e.describe()] };
    }
  };
  await reload();

  let verifier: TokenVerifier;
  if (opts.identity) {
    verifier = createTokenVerifier({ issuer: opts.identity.issuer, audience: opts.identity.audience, jwks: opts.identity.jwks });
  } else {
    const dev = await ensureDevIssuer(dataDir);
    verifier = createTokenVerifier({ issuer: dev.issuer, audience: dev.audience, jwks: { file: dev.jwksPath } });
  }

  const ctx: GatewayContext = {
    bundle: () => live,
    async authenticate(token: string): Promise<AuthenticatedSubject> {
      const verified = await verifier.verify(token);
      const bundle = live;
      if (!bundle) throw new PortcullisError('failed_precondition', 'the gateway has no valid policy bundle yet');
      const identity = resolveIdentity(identitiesOf(bundle), verified);
      return {
        identity: identity.name,
        groups: identity.groups,
        kind: identity.kind,
        tokenSubject: verified.subject,
        issuer: verified.issuer,
        expiresAt: verified.expiresAt,
      };
    },
    recorder,
    now: () => new Date(),
    log,
  };

  return {
    ctx,
    dataDir,
    reload,
    maskKey: await persistentKey(dataDir, 'mask.key'),
    async close() {
      await recorder.endAll('gateway-shutdown');
      await store.close();
    },
  };
}
