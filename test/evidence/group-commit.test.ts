/**
 * A checkpoint request must never be lost, whenever in a batch's life it arrives: a store that closes
 * right after its last append asks for one, and a lost request leaves the chain's tail unsigned.
 */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../runtime/evidence/group-commit.ts';

async function afterMicrotasks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

describe('group commit', () => {
  it('writes a checkpoint requested at any point while the last batch finishes', async () => {
    for (let delay = 0; delay < 12; delay++) {
      const checkpoints: boolean[] = [];
      let request: Promise<void> | undefined;
      const gc: GroupCommit = new GroupCommit({
        windowMs: 0,
        healthy: () => true,
        write: async (batch) => {
          checkpoints.push(gc.takeCheckpoint());
          batch.forEach((p) => p.resolve({ seq: 1, hash: '' }));
          // The closing store's request, some microtasks after its append was acknowledged: some of
          // these land between the loop's last check and the end of the flush.
          if (batch.length > 0) request = afterMicrotasks(delay).then(() => gc.requestCheckpoint());
        },
      });
      await gc.add('x', '{}');
      await request;
      await gc.idle();
      expect(checkpoints, `request ${delay} microtasks after the acknowledgement`).toEqual([false, true]);
    }
  });
});
