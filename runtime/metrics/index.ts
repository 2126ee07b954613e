/** Prometheus metrics without a dependency: the registry and the gateway's metric set. */
export { Registry, Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE } from './registry.ts';
export { GatewayMetrics, type GatewayMetricsOptions } from './gateway.ts';
