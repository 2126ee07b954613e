import { PortcullisError } from '../runtime/errors.ts';
import { formatDiagnostic, diagnosticsOf, didYouMean } from '../runtime/bundle/diagnostics.ts';
import type { Command } from './command.ts';
import { rebase } from './reporters/paths.ts';

/** A command file under cli/commands default-exports a Command; it is imported only when used. */
async function loadCommand(name: string): Promise<Command> {
  const mod = (await import(new URL(`./commands/${name}.ts`, import.meta.url).href)) as { default: Command };
  return mod.default;
}

const summaries: Record<string, string> = {
  up: 'start the gateway on an embedded default (example policies, sample database, a token)',
  gateway: 'run the gateway for a policy repo',
  lint: 'validate a policy repo and flag unsafe rules',
  decide: 'ask the engine what it would decide for one request',
  test: 'run the policy unit tests (PolicyTest documents)',
  simulate: 'replay recorded sessions against a change and search for invariant violations',
  diff: 'compare the permissions of two revisions, from the bundles alone',
  codeowners: 'write or check the CODEOWNERS entries that protect the safety configuration',
  token: 'mint a development token for an agent or approver',
  evidence: 'verify the tamper-evident evidence log',
  sessions: 'list, show and export recorded sessions',
  approvals: 'list, approve and deny pending review requests',
  kubeconfig: 'print a kubeconfig that points kubectl at the gateway',
  ci: 'report lint, test and simulate results to GitHub',
  init: 'set up a policy repo (--ci github writes its pull-request workflow)',
};

function usage(): string {
  const width = Math.max(...Object.keys(summaries).map((k) => k.length));
  const lines = Object.entries(summaries).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  return `portcullis - govern what AI agents do with production data\n\nUsage: portcullis <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'portcullis <command> --help' for a command's options.`;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (!Object.hasOwn(summaries, name)) {
    const guess = didYouMean(name, Object.keys(summaries));
    process.stderr.write(`portcullis: unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''}\n\n${usage()}\n`);
    return 2;
  }
  try {
    const command = await loadCommand(name);
    return await command.run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** User errors print their message (and diagnostics), never a stack trace; bugs say they are bugs. */
export function reportError(err: unknown): number {
  const e = PortcullisError.from(err);
  const diagnostics = diagnosticsOf(e);
  if (diagnostics) {
    const root = e.details.root;
    for (const d of diagnostics) process.stderr.write(formatDiagnostic(typeof root === 'string' ? { ...d, file: rebase(root, d.file) } : d) + '\n');
    return 1;
  }
  process.stderr.write(`portcullis: ${e.describe()}\n`);
  if (e.code === 'internal') {
    process.stderr.write('this is a bug in portcullis; please report it with the output of PORTCULLIS_DEBUG=1\n');
    if (process.env.PORTCULLIS_DEBUG) process.stderr.write(String((e.cause as Error | undefined)?.stack ?? e.stack) + '\n');
  }
  return e.code === 'invalid_argument' ? 2 : 1;
}
