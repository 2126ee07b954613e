/**
 * A tiny Prometheus registry: counters, gauges (set, or read at scrape time) and histograms with
 * labels, rendered in the text exposition format 0.0.4. Enough for the gateway, without a dependency.
 */

type Labels = Record<string, string>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function labelValue(labels: Labels | undefined, name: string): string {
  return String(labels?.[name] ?? '');
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[]) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL.test(l) || l === 'le') throw new Error(`invalid label name ${l}`);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  protected key(labels: Labels = {}): { key: string; values: string[] } {
    const values = this.labelNames.map((n) => String(labels[n] ?? ''));
    return { key: JSON.stringify(values), values };
  }

  /**
   * The series of a label tuple already seen, found by one map lookup per label value: a counter
   * counts every statement, and building its string key each time cost about a microsecond.
   */
  private readonly seen = new Map<string, unknown>();

  protected cached<E>(labels: Labels | undefined): E | undefined {
    const names = this.labelNames;
    if (names.length === 0) return this.seen.get('') as E | undefined;
    let node: Map<string, unknown> | undefined = this.seen;
    for (let i = 0; i < names.length - 1 && node; i++) node = node.get(labelValue(labels, names[i] as string)) as Map<string, unknown> | undefined;
    return node?.get(labelValue(labels, names[names.length - 1] as string)) as E | undefined;
  }

  protected remember(values: readonly string[], entry: unknown): void {
    if (values.length === 0) {
      this.seen.set('', entry);
      return;
    }
    let node = this.seen;
    for (let i = 0; i < values.length - 1; i++) {
      const v = values[i] as string;
      let next = node.get(v) as Map<string, unknown> | undefined;
      if (!next) node.set(v, (next = new Map()));
      node = next;
    }
    node.set(values[values.length - 1] as string, entry);
  }

  abstract samples(): Promise<string[]>;

  async render(): Promise<string> {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...(await this.samples())];
    return lines.join('\n');
  }
}

export class Counter extends Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: string[]; value: number }>();

  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name} cannot decrease`);
    const known = this.cached<{ value: number }>(labels);
    if (known) {
      known.value += by;
      return;
    }
    const { key, values } = this.key(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else {
      const created = { labels: values, value: by };
      this.values.set(key, created);
      this.remember(values, created);
    }
  }

  get(labels?: Labels): number {
    return this.values.get(this.key(labels).key)?.value ?? 0;
  }

  async samples(): Promise<string[]> {
    if (this.values.size === 0 && this.labelNames.length === 0) return [`${this.name} 0`];
    return [...this.values.values()].map((e) => `${this.name}${labelText(this.labelNames, e.labels)} ${formatNumber(e.value)}`);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, { labels: string[]; value: number }>();
  private readonly collect: (() => Promise<number> | number) | undefined;

  /** With `collect` (no labels), the value is read at scrape time. */
  constructor(name: string, help: string, labelNames: readonly string[] = [], collect?: () => Promise<number> | number) {
    super(name, help, labelNames);
    this.collect = collect;
  }

  set(value: number, labels?: Labels): void {
    const { key, values } = this.key(labels);
    this.values.set(key, { labels: values, value });
  }

  async samples(): Promise<string[]> {
    if (this.collect) {
      let value: number;
      try {
        value = await this.collect();
      } catch {
        value = NaN;
      }
      return [`${this.name} ${formatNumber(value)}`];
    }
    return [...this.values.values()].map((e) => `${this.name}${labelText(this.labelNames, e.labels)} ${formatNumber(e.value)}`);
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly series = new Map<string, { labels: string[]; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(value: number, labels?: Labels): void {
    let s = this.cached<{ labels: string[]; counts: number[]; sum: number; count: number }>(labels);
    if (!s) {
      const { key, values } = this.key(labels);
      s = this.series.get(key);
      if (!s) {
        s = { labels: values, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
        this.series.set(key, s);
        this.remember(values, s);
      }
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }

  async samples(): Promise<string[]> {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, ['le', formatNumber(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();

  register<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: () => Promise<number> | number): Gauge {
    return this.register(new Gauge(name, help, labelNames, collect));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.register(new Histogram(name, help, labelNames, buckets));
  }

  async render(): Promise<string> {
    const parts = await Promise.all([...this.metrics.values()].map((m) => m.render()));
    return `${parts.join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
