/**
 * Brings an unwritable evidence store back without a restart. While it is unhealthy the listeners
 * accept no sessions, so no request would ever retry the write: the watchdog does, by appending an
 * `evidence.resumed` record. The first record that gets through is that one, so the chain itself
 * says when evidence stopped and started again.
 */
import type { EvidenceStore } from '../evidence/store.ts';

export const EVIDENCE_RESUMED = 'evidence.resumed';

export interface Watchdog {
  close(): void;
}

export function watchEvidenceStore(
  store: EvidenceStore,
  opts: { replica: string; everyMs?: number; log: (event: string, fields?: Record<string, unknown>) => void },
): Watchdog {
  let downSince: Date | undefined;
  let probing = false;
  const timer = setInterval(() => {
    if (store.healthy()) {
      downSince = undefined;
      return;
    }
    if (probing) return;
    if (!downSince) {
      downSince = new Date();
      opts.log('evidence.unwritable', { replica: opts.replica });
    }
    probing = true;
    const since = downSince;
    store
      .append(EVIDENCE_RESUMED, { replica: opts.replica, unwritableSince: since.toISOString(), detectedBy: 'watchdog' })
      .then(
        ({ seq }) => {
          opts.log('evidence.resumed', { replica: opts.replica, seq, downMs: Date.now() - since.getTime() });
          downSince = undefined;
        },
        () => undefined,
      )
      .finally(() => (probing = false));
  }, opts.everyMs ?? 500);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
