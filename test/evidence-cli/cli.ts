import { execFile } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `portcullis ARGS` in a child process, as a user would (without the caller's state URL or token). */
export function portcullis(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('node_modules/.bin/tsx', ['cli/portcullis.ts', ...args], { env: { ...process.env, PORTCULLIS_STATE: '', PORTCULLIS_TOKEN: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
