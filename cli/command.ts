/**
 * A subcommand: flags parsed with node:util parseArgs (strict: unknown flags are errors), `--help`
 * on every command, and errors thrown as PortcullisError so main.ts prints them without a stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PortcullisError } from '../runtime/errors.ts';

export interface Command {
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  name: string;
  summary: string;
  usage: string;
  options: O;
  /** help text per option */
  help: { [K in keyof O]?: string };
  positionals?: boolean;
}

export function parse<O extends Options>(spec: CommandSpec<O>, argv: string[]) {
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } };
  try {
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: spec.positionals ?? false });
    return { ...parsed, helpRequested: Boolean((parsed.values as Record<string, unknown>).help) };
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new PortcullisError('invalid_argument', `${message}`, { details: { hint: `run 'portcullis ${spec.name} --help'` } });
  }
}

export function helpText<O extends Options>(spec: CommandSpec<O>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
    return [flag, spec.help[name as keyof O] ?? ''] as const;
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([f]) => f.length));
  return `${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`).join('\n')}\n`;
}

/** Define a command: `--help` handled, the rest of the work in `action`. */
export function defineCommand<O extends Options>(spec: CommandSpec<O>, action: (args: ReturnType<typeof parse<O>>) => Promise<number>): Command {
  return {
    async run(argv) {
      const args = parse(spec, argv);
      if (args.helpRequested) {
        process.stdout.write(helpText(spec));
        return 0;
      }
      return action(args);
    },
  };
}

export function requireString(value: unknown, flag: string, command: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new PortcullisError('invalid_argument', `--${flag} is required`, { details: { hint: `run 'portcullis ${command} --help'` } });
  }
  return value;
}
