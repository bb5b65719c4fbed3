/**
 * A small in-process metrics registry rendered in the Prometheus text format (0.0.4):
 * counters and histograms kept here, gauges (jobs by status, queue depth) read at scrape
 * time by the /metrics route. One registry per process, made in compose.
 */

type Labels = Record<string, string>;

const DEFAULT_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

interface Histogram {
  buckets: number[];
  series: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>;
}

const labelKey = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
export const formatLabels = (l: Labels): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : '-Inf');

export class Metrics {
  readonly #help = new Map<string, { type: 'counter' | 'histogram'; help: string }>();
  readonly #counters = new Map<string, Map<string, { labels: Labels; value: number }>>();
  readonly #histograms = new Map<string, Histogram>();

  constructor() {
    this.counter('photoreel_webhook_attempts_total', 'Webhook delivery attempts by outcome (delivered, failed).');
    this.histogram('photoreel_render_seconds', 'Wall time of engine renders, by engine.');
    this.histogram('photoreel_stage_seconds', 'Wall time of job stages (fetching, planning, rendering, preview, publishing).');
    this.histogram('photoreel_webhook_attempt_seconds', 'Duration of webhook delivery attempts.', [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  }

  counter(name: string, help: string): void {
    this.#help.set(name, { type: 'counter', help });
    if (!this.#counters.has(name)) this.#counters.set(name, new Map());
  }

  histogram(name: string, help: string, buckets = DEFAULT_BUCKETS): void {
    this.#help.set(name, { type: 'histogram', help });
    if (!this.#histograms.has(name)) this.#histograms.set(name, { buckets: [...buckets].sort((a, b) => a - b), series: new Map() });
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const c = this.#counters.get(name);
    if (!c) throw new Error(`unknown counter ${name}`);
    const k = labelKey(labels);
    const cur = c.get(k) ?? { labels, value: 0 };
    cur.value += by;
    c.set(k, cur);
  }

  observe(name: string, labels: Labels, value: number): void {
    const h = this.#histograms.get(name);
    if (!h) throw new Error(`unknown histogram ${name}`);
    const k = labelKey(labels);
    const cur = h.series.get(k) ?? { labels, counts: h.buckets.map(() => 0), sum: 0, count: 0 };
    h.buckets.forEach((b, i) => {
      if (value <= b) cur.counts[i]! += 1;
    });
    cur.sum += value;
    cur.count += 1;
    h.series.set(k, cur);
  }

  /** Current value of a counter series (tests). */
  value(name: string, labels: Labels = {}): number {
    return this.#counters.get(name)?.get(labelKey(labels))?.value ?? 0;
  }

  /** The text exposition; `gauges` are rendered first (values read by the caller at scrape time). */
  render(gauges: { name: string; help: string; series: { labels: Labels; value: number }[] }[] = []): string {
    const out: string[] = [];
    for (const g of gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const s of g.series) out.push(`${g.name}${formatLabels(s.labels)} ${num(s.value)}`);
    }
    for (const [name, series] of this.#counters) {
      const h = this.#help.get(name)!;
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} counter`);
      for (const s of series.values()) out.push(`${name}${formatLabels(s.labels)} ${num(s.value)}`);
    }
    for (const [name, hist] of this.#histograms) {
      const h = this.#help.get(name)!;
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const s of hist.series.values()) {
        hist.buckets.forEach((b, i) => out.push(`${name}_bucket${formatLabels({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
        out.push(`${name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${s.count}`);
        out.push(`${name}_sum${formatLabels(s.labels)} ${num(s.sum)}`, `${name}_count${formatLabels(s.labels)} ${s.count}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
