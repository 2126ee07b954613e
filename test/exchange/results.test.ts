/**
 * Queued results go out with the next decision the core records: through the recorder's
 * promise-free queueResult when it has one, else through recordResult; a result that cannot be
 * written is logged, never thrown.
 */
import { describe, expect, it } from 'vitest';
import type { Bundle } from '../../runtime/bundle/model.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import type { HttpRequest } from '../../runtime/engine/request.ts';
import { queueResult, refusalOf, runExchange, type ExchangeEnv, type ResultEnv } from '../../runtime/exchange/index.ts';
import type { RecordResult } from '../../runtime/recording/recorder.ts';

const revision = { commit: 'c0ffee', dirty: false, digest: 'd1' };
const allow: Decision = { effect: 'allow', rules: [], masks: [], reason: 'allowed', revision };
const request: HttpRequest = { protocol: 'http', subject: { identity: 'a', groups: [] }, target: 't', at: '2026-01-01T00:00:00Z', method: 'GET', path: '/x', query: {} };

function env(quiet: boolean) {
  const results: RecordResult[] = [];
  const logged: string[] = [];
  const fail = (r: RecordResult) => r.seq === 2;
  const e: ExchangeEnv & ResultEnv = {
    log: (event) => logged.push(event),
    recorder: {
      healthy: () => true,
      recordDecision: async () => ({ seq: 9, evidenceSeq: 9, hash: 'h' }),
      recordDecisionStaged: () => ({ written: Promise.resolve({ seq: 9, evidenceSeq: 9, hash: 'h' }), durable: Promise.resolve() }),
      startSession: async () => ({ sessionId: 's1', evidenceSeq: 1, hash: 'h' }),
      endSession: async () => undefined,
      recordResult: async (r) => {
        if (fail(r)) throw new Error('disk full');
        results.push(r);
        return { evidenceSeq: 2, hash: 'h' };
      },
      ...(quiet
        ? {
            queueResult: (r: RecordResult, failed: (error: unknown) => void) => {
              if (fail(r)) failed(new Error('disk full'));
              else results.push(r);
            },
          }
        : {}),
    },
  };
  return { e, results, logged };
}

describe('queued results', () => {
  for (const quiet of [true, false]) {
    it(`go out right before the next decision record (${quiet ? 'queueResult' : 'recordResult'}); a failed one is logged`, async () => {
      const { e, results, logged } = env(quiet);
      queueResult(e, { sessionId: 's1', seq: 1 }, { status: 'ok', durationMs: 1, maskedValues: 0 });
      queueResult(e, { sessionId: 's1', seq: 2 }, { status: 'ok', durationMs: 1, maskedValues: 0 });
      expect(results).toEqual([]);
      const r = runExchange(e, { bundle: {} as Bundle, request, session: 's1', decided: { decision: allow }, refusal: refusalOf });
      if (r instanceof Promise || !r.allowed) throw new Error('expected a synchronous allow');
      await r.evidence.written;
      expect(results.map((x) => x.seq)).toEqual([1]);
      expect(logged).toEqual(['exchange.result-not-recorded']);
    });
  }
});
