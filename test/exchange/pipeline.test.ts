/**
 * The exchange core on its own, with a recorder that keeps what it is given: the order of the
 * pipeline, what each record says, and that the fast path hands back a result without a promise.
 */
import { describe, expect, it } from 'vitest';
import type { Bundle } from '../../runtime/bundle/model.ts';
import type { Decision } from '../../runtime/engine/decision.ts';
import type { HttpRequest } from '../../runtime/engine/request.ts';
import { PortcullisError } from '../../runtime/errors.ts';
import { refusalOf, runExchange, type ExchangeEnv, type ExchangeInput } from '../../runtime/exchange/index.ts';

const revision = { commit: 'c0ffee', dirty: false, digest: 'd1' };
const decisionOf = (effect: Decision['effect']): Decision => ({ effect, rules: [], masks: [], reason: `${effect} for the test`, revision });
const request: HttpRequest = { protocol: 'http', subject: { identity: 'a', groups: [] }, target: 't', at: '2026-01-01T00:00:00Z', method: 'GET', path: '/x', query: {} };

function fakeEnv(opts: { healthy?: boolean; failRecord?: boolean } = {}) {
  const records: { decision: Decision; staged: boolean }[] = [];
  const counted: { effect: string; protocol: string }[] = [];
  let seq = 0;
  const env: ExchangeEnv = {
    recorder: {
      healthy: () => opts.healthy ?? true,
      recordDecision: async (d) => {
        if (opts.failRecord) throw new Error('disk full');
        records.push({ decision: d.decision, staged: false });
        return { seq: ++seq, evidenceSeq: seq, hash: 'h' };
      },
      recordDecisionStaged: (d) => {
        records.push({ decision: d.decision, staged: true });
        return { written: Promise.resolve({ seq: ++seq, evidenceSeq: seq, hash: 'h' }), durable: Promise.resolve() };
      },
    },
    metrics: { observeDecision: (d) => counted.push({ effect: d.effect, protocol: d.protocol }) },
  };
  return { env, records, counted };
}

const input = (effect: Decision['effect'], extra: Partial<ExchangeInput<HttpRequest>> = {}): ExchangeInput<HttpRequest> => ({
  bundle: {} as Bundle,
  request,
  session: 's1',
  decided: { decision: decisionOf(effect) },
  refusal: refusalOf,
  ...extra,
});

describe('runExchange', () => {
  it('answers an allowed request synchronously; the record is written, then counted', async () => {
    const { env, records, counted } = fakeEnv();
    const r = runExchange(env, input('allow'));
    expect(r).not.toBeInstanceOf(Promise);
    if (r instanceof Promise || !r.allowed) throw new Error('expected a synchronous allow');
    expect(await r.evidence.written).toBe(1);
    expect(r.evidence.staged).toBe(false);
    expect(records).toEqual([{ decision: expect.objectContaining({ effect: 'allow' }), staged: false }]);
    expect(counted).toEqual([{ effect: 'allow', protocol: 'http' }]);
  });

  it('stages a request the adapter says changes nothing', async () => {
    const { env, records } = fakeEnv();
    const r = runExchange(env, input('allow', { staged: () => true }));
    if (r instanceof Promise || !r.allowed) throw new Error('expected a synchronous allow');
    expect(r.evidence.staged).toBe(true);
    await r.evidence.written;
    await r.evidence.durable;
    expect(records[0]!.staged).toBe(true);
  });

  it('records a deny before refusing, and counts it', async () => {
    const { env, records, counted } = fakeEnv();
    const r = await runExchange(env, input('deny'));
    expect(r.allowed).toBe(false);
    if (r.allowed) return;
    expect(r.error.code).toBe('permission_denied');
    expect(r.recorded).toEqual({ sessionId: 's1', seq: 1, target: 't' });
    expect(records.map((x) => x.decision.effect)).toEqual(['deny']);
    expect(counted).toEqual([{ effect: 'deny', protocol: 'http' }]);
  });

  it('records a protocol check refusal as deny, refused by the check', async () => {
    const { env, records } = fakeEnv();
    const r = await runExchange(env, input('allow', { check: async () => new PortcullisError('permission_denied', 'no'), checkName: 'masking' }));
    expect(r.allowed).toBe(false);
    expect(records.map((x) => [x.decision.effect, x.decision.reason])).toEqual([['deny', 'refused by masking: no']]);
  });

  it('fails closed when a check throws: refused, and recorded as refused', async () => {
    const { env, records } = fakeEnv();
    const r = await runExchange(
      env,
      input('allow', {
        check: () => {
          throw new Error('catalog gone');
        },
      }),
    );
    expect(r.allowed).toBe(false);
    expect(records.map((x) => x.decision.effect)).toEqual(['deny']);
  });

  it('settles a review before it records it: without approvals, one review record and the refusal', async () => {
    const { env, records } = fakeEnv();
    const r = await runExchange(env, input('review'));
    expect(r.allowed).toBe(false);
    if (!r.allowed) expect(r.error.code).toBe('review_required');
    expect(records.map((x) => x.decision.effect)).toEqual(['review']);
  });

  it('admits nothing while evidence cannot be written, and opens no session', async () => {
    const { env, records } = fakeEnv({ healthy: false });
    let opened = false;
    const r = await runExchange(env, input('allow', { session: () => ((opened = true), 's1') }));
    expect(r.allowed).toBe(false);
    if (!r.allowed) expect(r.error.code).toBe('failed_precondition');
    expect(opened).toBe(false);
    expect(records).toEqual([]);
  });

  it('refuses with the evidence failure when the record cannot be written', async () => {
    const { env, counted } = fakeEnv({ failRecord: true });
    const denied = await runExchange(env, input('deny'));
    expect(!denied.allowed && denied.error.code).toBe('failed_precondition');
    const allowed = await runExchange(env, input('allow'));
    if (!allowed.allowed) throw new Error('expected an allow');
    await expect(allowed.evidence.written).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(counted).toEqual([]);
  });
});
