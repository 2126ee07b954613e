import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../runtime/metrics/gateway.ts';
import { Registry } from '../../runtime/metrics/registry.ts';
import { parsePrometheus, sampleValue } from './prometheus.ts';

describe('metrics registry', () => {
  it('renders counters, gauges and histograms that parse as the Prometheus text format', async () => {
    const r = new Registry();
    const c = r.counter('t_requests_total', 'Requests.\nSecond line with \\ backslash.', ['target']);
    c.inc({ target: 'a"b\\c\nd' });
    c.inc({ target: 'x' }, 2);
    const g = r.gauge('t_temp', 'A gauge.', ['room']);
    g.set(-1.5, { room: 'lab' });
    r.gauge('t_live', 'Read at scrape time.', [], async () => 7);
    const h = r.histogram('t_seconds', 'A histogram.', ['p'], [0.1, 1]);
    h.observe(0.05, { p: 'pg' });
    h.observe(0.5, { p: 'pg' });
    h.observe(5, { p: 'pg' });

    const text = await r.render();
    const f = parsePrometheus(text);
    expect(f.get('t_requests_total')?.type).toBe('counter');
    expect(sampleValue(f, 't_requests_total', { target: 'a"b\\c\nd' })).toBe(1);
    expect(sampleValue(f, 't_requests_total', { target: 'x' })).toBe(2);
    expect(sampleValue(f, 't_temp', { room: 'lab' })).toBe(-1.5);
    expect(sampleValue(f, 't_live')).toBe(7);
    expect(f.get('t_seconds')?.type).toBe('histogram');
    expect(sampleValue(f, 't_seconds_bucket', { p: 'pg', le: '0.1' })).toBe(1);
    expect(sampleValue(f, 't_seconds_bucket', { p: 'pg', le: '1' })).toBe(2);
    expect(sampleValue(f, 't_seconds_bucket', { p: 'pg', le: '+Inf' })).toBe(3);
    expect(sampleValue(f, 't_seconds_count', { p: 'pg' })).toBe(3);
    expect(sampleValue(f, 't_seconds_sum', { p: 'pg' })).toBeCloseTo(5.55);
  });

  it('refuses bad names, reserved labels, negative increments and duplicates', () => {
    const r = new Registry();
    expect(() => r.counter('1bad', 'x')).toThrow();
    expect(() => r.histogram('h', 'x', ['le'], [1])).toThrow();
    const c = r.counter('ok_total', 'x');
    expect(() => c.inc({}, -1)).toThrow();
    expect(() => r.counter('ok_total', 'x')).toThrow(/twice/);
  });

  it('has the gateway metric set', async () => {
    const m = new GatewayMetrics({ pendingApprovals: () => 3 });
    m.observeDecision({ effect: 'allow', target: 'shop-db', protocol: 'postgres', durationMs: 2 });
    m.observeDecision({ effect: 'deny', target: 'shop-db', protocol: 'postgres', durationMs: 40 });
    m.observeMasked('shop-db', 12);
    m.observeReload(true);
    m.observeReload(false);
    await m.approvalNotifier().notify({ kind: 'requested', request: {} as never });
    const f = parsePrometheus(await m.render());
    expect(sampleValue(f, 'portcullis_decisions_total', { effect: 'deny', target: 'shop-db' })).toBe(1);
    expect(sampleValue(f, 'portcullis_decision_duration_seconds_count', { protocol: 'postgres' })).toBe(2);
    expect(sampleValue(f, 'portcullis_masked_values_total', { target: 'shop-db' })).toBe(12);
    expect(sampleValue(f, 'portcullis_bundle_reloads_total', { result: 'rejected' })).toBe(1);
    expect(sampleValue(f, 'portcullis_approvals_pending')).toBe(3);
    expect(sampleValue(f, 'portcullis_approvals_total', { outcome: 'requested' })).toBe(1);
  });
});
