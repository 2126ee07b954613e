/**
 * The limits policy sets on a session (maximum duration, idle timeout) and the token's expiry, as
 * timers that end the session with a FATAL saying which limit it reached.
 */
import type { SessionLimits } from '../../engine/decision.ts';
import { formatDuration } from '../../engine/duration.ts';
import { fatal } from './refusal.ts';

export type EndSession = (reason: string, finalError: Buffer) => void;

export class SessionClock {
  private readonly timers: NodeJS.Timeout[] = [];
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: SessionLimits,
    private readonly expiresAt: Date,
    private readonly end: EndSession,
  ) {}

  arm(): void {
    const { limits, expiresAt } = this;
    if (limits.maxDurationMs !== undefined) {
      const max = limits.maxDurationMs;
      this.after(max, () => this.end('max-duration', fatal('resource_exhausted', `session reached its maximum duration of ${formatDuration(max)} set by policy`, 'reconnect to start a new session')));
    }
    const untilExpiry = expiresAt.getTime() - Date.now();
    this.after(Math.max(0, Math.min(untilExpiry, 2 ** 31 - 1)), () =>
      this.end('token-expired', fatal('unauthenticated', `the session's token expired at ${expiresAt.toISOString()}`, 'reconnect with a fresh token')),
    );
    this.touch();
  }

  /** the agent sent something: the idle timeout starts over */
  touch(): void {
    const idle = this.limits.idleTimeoutMs;
    if (idle === undefined) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else
      this.idleTimer = setTimeout(
        () => this.end('idle-timeout', fatal('resource_exhausted', `session was idle for ${formatDuration(idle)}, the limit set by policy`, 'reconnect to start a new session')),
        idle,
      );
  }

  /** a timer cleared with the others when the session ends */
  after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }
}
