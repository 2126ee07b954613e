#!/usr/bin/env -S node --import tsx
/**
 * The `portcullis` command. Each subcommand lives in its own file under cli/commands and is loaded
 * only when used, so `portcullis lint` does not pay for the gateway's imports.
 */
import { run } from './main.ts';

process.exitCode = await run(process.argv.slice(2));
