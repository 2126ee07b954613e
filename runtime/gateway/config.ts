/**
 * The gateway's configuration as typed values, its defaults in one place, and the checks that run
 * before anything starts. The CLI binds flags to it (parseGatewayFlags); a library user, a test or a
 * bench passes a partial config (resolveGatewayConfig); both get the same defaults and the same
 * errors, which name the flag and what it accepts.
 */
import { PortcullisError } from '../errors.ts';
import { formatDuration, parseDuration } from '../engine/duration.ts';
import { checkReplicaName } from '../state/replica.ts';

/** A TCP port (0 picks a free one), or 'off': that listener is not started. */
export type ListenerPort = number | 'off';

export type Plaintext = 'loopback' | 'always' | 'never';
export type EvidenceDurability = 'fsync' | 'write';

export interface GitConfig {
  url: string;
  branch: string;
  pollMs: number;
  /** folder of the policy repo inside the git repository (default: its root) */
  path?: string;
  requireSignedCommits: boolean;
}

export interface GatewayConfig {
  /** a policy folder, watched for changes unless `watch` is false (ignored with `git`) */
  policies: string;
  git?: GitConfig;
  watch: boolean;
  dataDir: string;
  host: string;
  pgPort: ListenerPort;
  /** HTTP, Kubernetes and MCP */
  httpPort: ListenerPort;
  /** health, readiness, metrics, the approvals API and the console */
  adminPort: ListenerPort;
  /** PEM files; both or neither */
  tls?: { certFile: string; keyFile: string };
  plaintext: Plaintext;
  /**
   * a trusted token issuer; default: the development issuer under dataDir. `jwks` is a file path or
   * an https URL; without it the key set is found by OpenID Connect discovery at start.
   */
  identity?: { issuer: string; audience: string; jwks?: string };
  reviewHoldMs: number;
  approvalWebhook?: string;
  /** the state database shared by replicas; default: files under dataDir */
  state?: { postgres: string; replica?: string };
  evidence: {
    durability: EvidenceDurability;
    /** MiB of evidence.journal; 0 flushes evidence.jsonl itself */
    journalMiB: number;
    checkpointIntervalMs: number;
    signingKeyFile?: string;
    witnessFile?: string;
  };
  /** how long open PostgreSQL sessions may finish on stop */
  drainMs: number;
}

/** What a caller may leave out: everything that has a default. */
export type GatewayConfigInput = Partial<Omit<GatewayConfig, 'git' | 'evidence'>> & {
  git?: Pick<GitConfig, 'url'> & Partial<GitConfig>;
  evidence?: Partial<GatewayConfig['evidence']>;
};

/** The defaults, once: the CLI's help text is written from these too. */
export const gatewayDefaults = {
  policies: 'policies',
  dataDir: '.portcullis',
  host: '127.0.0.1',
  pgPort: 6432,
  httpPort: 8443,
  adminPort: 6480,
  plaintext: 'loopback',
  watch: true,
  reviewHoldMs: 0,
  drainMs: 30_000,
  git: { branch: 'main', pollMs: 10_000, requireSignedCommits: false },
  evidence: { durability: 'fsync', journalMiB: 16, checkpointIntervalMs: 1_000 },
} as const satisfies Omit<GatewayConfig, 'git' | 'evidence'> & { git: Omit<GitConfig, 'url'>; evidence: GatewayConfig['evidence'] };

/** The accepted ranges, beside the defaults they bound. */
const MAX_JOURNAL_MIB = 4096;
const MAX_CHECKPOINT_INTERVAL_MS = 3_600_000;

/** A duration default as a flag is written (`30s`, `0s`). */
export function showDuration(ms: number): string {
  return ms === 0 ? '0s' : formatDuration(ms);
}

function invalid(flag: string, message: string, hint?: string): PortcullisError {
  return new PortcullisError('invalid_argument', `--${flag} ${message}`, hint ? { details: { hint } } : {});
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

function checkPort(flag: string, port: unknown): ListenerPort {
  if (port === 'off' || (typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535)) return port;
  throw invalid(flag, `must be a port number from 0 to 65535 (0 picks a free port) or off, not ${quote(port)}`);
}

function checkDuration(flag: string, ms: unknown, { zero, max }: { zero: boolean; max?: number }): number {
  const ok = typeof ms === 'number' && Number.isSafeInteger(ms) && (zero ? ms >= 0 : ms > 0) && (max === undefined || ms <= max);
  if (ok) return ms;
  const range = `${zero ? 'at least 0s' : 'more than 0'}${max === undefined ? '' : ` and at most ${showDuration(max)}`}`;
  throw invalid(flag, `must be a duration ${range}, not ${typeof ms === 'number' ? showDuration(ms) : quote(ms)}`);
}

function checkOneOf<T extends string>(flag: string, value: unknown, accepted: readonly T[]): T {
  if (typeof value === 'string' && (accepted as readonly string[]).includes(value)) return value as T;
  throw invalid(flag, `must be ${accepted.slice(0, -1).join(', ')} or ${accepted.at(-1)}, not ${quote(value)}`);
}

function checkText(flag: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw invalid(flag, `must not be empty`);
}

/**
 * Fill in the defaults and check every value and combination, so a wrong setting is refused before
 * any file, port or connection is opened.
 */
export function resolveGatewayConfig(input: GatewayConfigInput = {}): GatewayConfig {
  const d = gatewayDefaults;
  if (Boolean(input.tls?.certFile) !== Boolean(input.tls?.keyFile)) throw invalid('tls-cert', 'and --tls-key go together');
  if (input.identity && (!input.identity.issuer || !input.identity.audience)) {
    throw new PortcullisError('invalid_argument', '--issuer and --audience go together (--jwks is optional: without it the key set is found by OpenID Connect discovery)', {
      details: { hint: 'omit all of them to trust the local dev issuer' },
    });
  }
  if (input.state?.replica !== undefined && !input.state.postgres) {
    throw new PortcullisError('invalid_argument', '--replica needs --state: only replicas sharing a state database have names', {
      details: { hint: 'pass --state postgres://... or set PORTCULLIS_STATE' },
    });
  }
  if (input.state?.replica !== undefined) checkReplicaName(input.state.replica);
  if (input.state && !/^postgres(ql)?:\/\//.test(input.state.postgres)) throw invalid('state', `must be a postgres:// URL`, 'or set PORTCULLIS_STATE');
  if (input.approvalWebhook !== undefined && !/^https?:\/\/[^\s]+$/.test(input.approvalWebhook))
    throw invalid('approval-webhook', `must be an http:// or https:// URL, not ${quote(input.approvalWebhook)}`);
  const journalMiB = input.evidence?.journalMiB ?? d.evidence.journalMiB;
  if (!Number.isInteger(journalMiB) || journalMiB < 0 || journalMiB > MAX_JOURNAL_MIB) {
    throw invalid('evidence-journal', `must be a whole number of MiB from 0 to ${MAX_JOURNAL_MIB}, not ${quote(journalMiB)}`);
  }
  const git = input.git
    ? {
        url: checkText('git', input.git.url),
        branch: checkText('branch', input.git.branch ?? d.git.branch),
        pollMs: checkDuration('poll', input.git.pollMs ?? d.git.pollMs, { zero: false }),
        ...(input.git.path ? { path: input.git.path } : {}),
        requireSignedCommits: input.git.requireSignedCommits ?? d.git.requireSignedCommits,
      }
    : undefined;
  const ev = input.evidence ?? {};
  return {
    policies: checkText('policies', input.policies ?? d.policies),
    ...(git ? { git } : {}),
    watch: input.watch ?? d.watch,
    dataDir: checkText('data-dir', input.dataDir ?? d.dataDir),
    host: checkText('host', input.host ?? d.host),
    pgPort: checkPort('pg-port', input.pgPort ?? d.pgPort),
    httpPort: checkPort('http-port', input.httpPort ?? d.httpPort),
    adminPort: checkPort('admin-port', input.adminPort ?? d.adminPort),
    ...(input.tls?.certFile && input.tls.keyFile ? { tls: { certFile: input.tls.certFile, keyFile: input.tls.keyFile } } : {}),
    plaintext: checkOneOf('plaintext', input.plaintext ?? d.plaintext, ['loopback', 'always', 'never'] as const),
    ...(input.identity ? { identity: { issuer: input.identity.issuer, audience: input.identity.audience, ...(input.identity.jwks ? { jwks: input.identity.jwks } : {}) } } : {}),
    reviewHoldMs: checkDuration('review-hold', input.reviewHoldMs ?? d.reviewHoldMs, { zero: true }),
    ...(input.approvalWebhook !== undefined ? { approvalWebhook: input.approvalWebhook } : {}),
    ...(input.state ? { state: { postgres: input.state.postgres, ...(input.state.replica !== undefined ? { replica: input.state.replica } : {}) } } : {}),
    evidence: {
      durability: checkOneOf('evidence-durability', ev.durability ?? d.evidence.durability, ['fsync', 'write'] as const),
      journalMiB,
      checkpointIntervalMs: checkDuration('checkpoint-interval', ev.checkpointIntervalMs ?? d.evidence.checkpointIntervalMs, { zero: false, max: MAX_CHECKPOINT_INTERVAL_MS }),
      ...(ev.signingKeyFile ? { signingKeyFile: ev.signingKeyFile } : {}),
      ...(ev.witnessFile ? { witnessFile: ev.witnessFile } : {}),
    },
    drainMs: checkDuration('drain', input.drainMs ?? d.drainMs, { zero: true }),
  };
}

/** The gateway's flags as parseArgs returns them: strings, and booleans for switches. */
export interface GatewayFlags {
  policies?: string;
  'data-dir'?: string;
  host?: string;
  'pg-port'?: string;
  'http-port'?: string;
  'admin-port'?: string;
  'review-hold'?: string;
  'evidence-durability'?: string;
  'evidence-journal'?: string;
  'approval-webhook'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  plaintext?: string;
  issuer?: string;
  audience?: string;
  jwks?: string;
  git?: string;
  branch?: string;
  poll?: string;
  'git-path'?: string;
  'require-signed'?: boolean;
  'no-watch'?: boolean;
  state?: string;
  replica?: string;
  'evidence-key'?: string;
  'evidence-witness'?: string;
  'checkpoint-interval'?: string;
  drain?: string;
}

function portFlag(flag: string, text: string | undefined): ListenerPort | undefined {
  if (text === undefined || text === 'off') return text;
  if (!/^\d{1,5}$/.test(text)) return checkPort(flag, text);
  return checkPort(flag, Number(text));
}

function durationFlag(flag: string, text: string | undefined, example: string): number | undefined {
  if (text === undefined) return undefined;
  if (/^0+(ms|s|m|h|d)?$/.test(text.trim())) return 0;
  try {
    return parseDuration(text);
  } catch {
    throw invalid(flag, `must be a duration such as ${example} (a whole number with ms, s, m, h or d), not ${quote(text)}`);
  }
}

/**
 * Flags (strings) to a checked GatewayConfig. `env` supplies PORTCULLIS_STATE: a state URL on the
 * command line shows its password to `ps`.
 */
export function parseGatewayFlags(flags: GatewayFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const journal = flags['evidence-journal'];
  if (journal !== undefined && !/^\d+$/.test(journal)) {
    throw invalid('evidence-journal', `must be a whole number of MiB from 0 to ${MAX_JOURNAL_MIB}, not ${quote(journal)}`);
  }
  const state = flags.state || env.PORTCULLIS_STATE || undefined;
  const identity = flags.issuer || flags.jwks || flags.audience ? { issuer: flags.issuer ?? '', audience: flags.audience ?? '', ...(flags.jwks ? { jwks: flags.jwks } : {}) } : undefined;
  const pollMs = durationFlag('poll', flags.poll, '10s');
  const input: GatewayConfigInput = {
    ...(flags.policies !== undefined ? { policies: flags.policies } : {}),
    ...(flags.git
      ? {
          git: {
            url: flags.git,
            ...(flags.branch !== undefined ? { branch: flags.branch } : {}),
            ...(pollMs !== undefined ? { pollMs } : {}),
            ...(flags['git-path'] ? { path: flags['git-path'] } : {}),
            requireSignedCommits: flags['require-signed'] ?? false,
          },
        }
      : {}),
    ...(flags['no-watch'] ? { watch: false } : {}),
    ...(flags['data-dir'] !== undefined ? { dataDir: flags['data-dir'] } : {}),
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...optional('pgPort', portFlag('pg-port', flags['pg-port'])),
    ...optional('httpPort', portFlag('http-port', flags['http-port'])),
    ...optional('adminPort', portFlag('admin-port', flags['admin-port'])),
    ...(flags['tls-cert'] || flags['tls-key'] ? { tls: { certFile: flags['tls-cert'] ?? '', keyFile: flags['tls-key'] ?? '' } } : {}),
    ...(flags.plaintext !== undefined ? { plaintext: flags.plaintext as Plaintext } : {}),
    ...(identity ? { identity } : {}),
    ...optional('reviewHoldMs', durationFlag('review-hold', flags['review-hold'], '0s, 30s or 2m')),
    ...(flags['approval-webhook'] !== undefined ? { approvalWebhook: flags['approval-webhook'] } : {}),
    ...(state || flags.replica !== undefined ? { state: { postgres: state ?? '', ...(flags.replica !== undefined ? { replica: flags.replica } : {}) } } : {}),
    evidence: {
      ...(flags['evidence-durability'] !== undefined ? { durability: flags['evidence-durability'] as EvidenceDurability } : {}),
      ...(journal !== undefined ? { journalMiB: Number(journal) } : {}),
      ...optional('checkpointIntervalMs', durationFlag('checkpoint-interval', flags['checkpoint-interval'], '1s or 500ms')),
      ...(flags['evidence-key'] ? { signingKeyFile: flags['evidence-key'] } : {}),
      ...(flags['evidence-witness'] ? { witnessFile: flags['evidence-witness'] } : {}),
    },
    ...optional('drainMs', durationFlag('drain', flags.drain, '30s or 0s')),
  };
  return resolveGatewayConfig(input);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
