/** lint, test and simulate name a file the same way: relative to where the command runs. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('paths in messages', () => {
  it('are the same for lint, test and simulate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-paths-'));
    await cp(join(root, 'policies'), join(dir, 'policies'), { recursive: true });
    const file = join(dir, 'policies', 'policies', 'support.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('effect: deny', 'effect: dney'));
    const where: string[] = [];
    for (const command of ['lint', 'test', 'simulate']) {
      const r = await run(process.execPath, [join(root, 'bin', 'portcullis.js'), command, 'policies'], { cwd: dir, timeout: 120_000 }).catch(
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      const text = `${(r as { stdout: string }).stdout}${(r as { stderr: string }).stderr}`;
      where.push(/^(\S+):16:15: error \[schema\]/m.exec(text)?.[1] ?? `${command}: ${text}`);
    }
    expect(where).toEqual(['policies/policies/support.yaml', 'policies/policies/support.yaml', 'policies/policies/support.yaml']);
  }, 300_000);
});
