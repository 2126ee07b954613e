/** Several listeners for approval events (a webhook, metrics) behind the one notifier the service takes. */
import type { ApprovalNotifier } from './types.ts';

export function combineNotifiers(...notifiers: (ApprovalNotifier | undefined)[]): ApprovalNotifier {
  const all = notifiers.filter((n): n is ApprovalNotifier => n !== undefined);
  return {
    async notify(event) {
      const results = await Promise.allSettled(all.map((n) => n.notify(event)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
