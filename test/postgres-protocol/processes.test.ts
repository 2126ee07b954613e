import { describe, expect, it } from 'vitest';
import { startProcess } from '../harness/processes.ts';

describe('harness child processes', () => {
  it('waits for a ready line and stops the process', async () => {
    const script = `console.log('booting'); setTimeout(() => console.log('listening on port 4321'), 50); setInterval(() => {}, 1000);`;
    const p = await startProcess(process.execPath, ['-e', script], { readyLine: /listening on port (\d+)/ });
    expect(p.ready.match?.[1]).toBe('4321');
    expect(p.stdout()).toContain('booting');
    await p.stop();
    expect(p.child.exitCode !== null || p.child.signalCode !== null).toBe(true);
  });

  it('fails with the output when the process exits before it is ready', async () => {
    await expect(startProcess(process.execPath, ['-e', `console.error('bad config'); process.exit(3)`], { readyLine: 'ready' })).rejects.toThrow(
      /exited with code 3 before it was ready[\s\S]*bad config/,
    );
  });
});
