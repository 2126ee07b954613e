/** Spawns bench/passthrough-child.ts: the bare Node.js hop, as a baseline column. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export interface Passthrough {
  port: number;
  stop(): Promise<void>;
}

export async function startPassthrough(backendPort: number): Promise<Passthrough> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'passthrough-child.ts');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
    env: { ...process.env, BENCH_BACKEND_PORT: String(backendPort) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the passthrough process exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout! }).once('line', resolve);
  });
  return {
    port: (JSON.parse(line) as { port: number }).port,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
