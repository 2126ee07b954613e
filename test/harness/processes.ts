/**
 * Child processes for end-to-end tests (a gateway, a CLI): start, wait until a line on stdout says
 * it is ready, and make sure nothing outlives the test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';

export interface StartProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve once a stdout line matches; without it, resolve as soon as the process is spawned. */
  readyLine?: RegExp | string;
  /** Default 20 s. */
  timeoutMs?: number;
}

export interface RunningProcess {
  child: ChildProcess;
  /** The stdout line that matched `readyLine`, with its regexp groups when it was a RegExp. */
  ready: { line: string; match: RegExpMatchArray | null };
  /** Everything written to stdout and stderr so far, for assertions and failure messages. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process ends on its own. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it is gone. */
  stop(): Promise<void>;
}

const running = new Set<RunningProcess>();

export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

afterAll(stopAllProcesses);
process.once('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});

/** Runs `tsx <script>` with the repo's tsx: the usual way to start Portcullis itself in a test. */
export function startTsx(script: string, args: string[], opts: StartProcessOptions = {}): Promise<RunningProcess> {
  return startProcess(process.execPath, ['--import', 'tsx', script, ...args], opts);
}

export function startProcess(command: string, args: string[], opts: StartProcessOptions = {}): Promise<RunningProcess> {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let pending = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stopping: Promise<void> | undefined;
  const handle: RunningProcess = {
    child,
    ready: { line: '', match: null },
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        running.delete(handle);
      })()),
  };
  running.add(handle);
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));

  return new Promise((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const fail = (why: string) => {
      clearTimeout(timer);
      void handle.stop();
      reject(new Error(`${command} ${args.join(' ')}: ${why}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    const matches = (line: string): RegExpMatchArray | null | false => {
      const want = opts.readyLine;
      if (want === undefined) return false;
      if (typeof want === 'string') return line.includes(want) ? null : false;
      return line.match(want) ?? false;
    };
    let done = false;
    child.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (done) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = matches(line);
        if (m !== false) {
          done = true;
          clearTimeout(timer);
          handle.ready = { line, match: m };
          resolve(handle);
          return;
        }
      }
    });
    child.once('error', (e) => fail(`failed to start: ${e.message}`));
    child.once('spawn', () => {
      if (opts.readyLine === undefined) {
        done = true;
        clearTimeout(timer);
        resolve(handle);
      }
    });
    void exited.then((code) => {
      if (!done) fail(`exited with code ${code} before it was ready`);
    });
  });
}
