#!/usr/bin/env -S node --import tsx
/**
 * The `portcullis` command. Each subcommand lives in its own file under cli/commands and is loaded
 * only when used, so `portcullis lint` does not pay for the gateway's imports.
 */
import { run } from './main.ts';

// `portcullis lint --rules | head -3`: the reader went away, which is not an error of ours. Stop
// quietly instead of dying on an unhandled EPIPE with a stack trace, for every command.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await run(process.argv.slice(2));
