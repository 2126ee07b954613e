/**
 * Brings an unwritable evidence store back without a restart, and makes every outage part of the
 * record. While the store is unhealthy the listeners accept no sessions, so no request would ever
 * retry the write: the watchdog does, by appending an `evidence.resumed` record naming when writes
 * first failed. The store is wrapped (rather than polled) so that even an outage shorter than the
 * polling interval is seen and recorded.
 */
import type { CompactParts, EvidenceStore } from '../evidence/store.ts';

export const EVIDENCE_RESUMED = 'evidence.resumed';

export interface WatchedStore extends EvidenceStore {
  /** the wrapped store, for its extras (head, publicKey, lastError) */
  readonly inner: EvidenceStore;
}

export function watchEvidenceStore(store: EvidenceStore, opts: { replica: string; everyMs?: number; log: (event: string, fields?: Record<string, unknown>) => void }): WatchedStore {
  let downSince: Date | undefined;
  let probing = false;
  let closed = false;

  const noticeDown = () => {
    if (downSince || closed) return;
    downSince = new Date();
    opts.log('evidence.unwritable', { replica: opts.replica });
  };

  const probe = () => {
    if (!store.healthy()) noticeDown();
    if (!downSince || probing || closed) return;
    probing = true;
    const since = downSince;
    store
      .append(EVIDENCE_RESUMED, { replica: opts.replica, unwritableSince: since.toISOString() })
      .then(
        ({ seq }) => {
          opts.log('evidence.resumed', { replica: opts.replica, seq, downMs: Date.now() - since.getTime() });
          if (downSince === since) downSince = undefined;
        },
        () => undefined,
      )
      .finally(() => (probing = false));
  };
  const timer = setInterval(probe, opts.everyMs ?? 500);
  timer.unref();

  return {
    inner: store,
    // format v2 (file store): the Recorder passes parts only to a store that says it takes them
    ...(store.compact ? { compact: true } : {}),
    append(type, data, parts) {
      const result = store.append(type, data, parts);
      result.catch(() => {
        if (!store.healthy()) noticeDown();
      });
      return result;
    },
    ...(store.appendStaged
      ? {
          appendStaged(type: string, data: unknown, parts?: CompactParts) {
            const staged = store.appendStaged!(type, data, parts);
            staged.durable.catch(() => {
              if (!store.healthy()) noticeDown();
            });
            return staged;
          },
        }
      : {}),
    healthy: () => store.healthy(),
    async close() {
      closed = true;
      clearInterval(timer);
      await store.close();
    },
  };
}
