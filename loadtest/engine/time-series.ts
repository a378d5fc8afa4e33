import type { Recorder } from './recorder.js';
import type { ServerMetricsWatcher } from './server-metrics.js';

/** The run second by second, for the HTML report and the JSON result. Times are seconds since the start. */
export interface TimeSeries {
  /** End of each interval (about a second each; the last one ends when the run does). */
  readonly t: number[];
  /** Requests finished in the interval (with a response or not), and how many of them failed. */
  readonly requests: number[];
  readonly errors: number[];
  /** Latency of the interval's responses; null when none arrived. */
  readonly p50Ms: (number | null)[];
  readonly p95Ms: (number | null)[];
  readonly p99Ms: (number | null)[];
  /** Requests by status key per interval ("200", "503", "no_response"), zero before a status first appears. */
  readonly statuses: Record<string, number[]>;
  /** The cluster's /metrics, one entry per successful scrape, at the time it completed. */
  readonly server: {
    readonly t: number[];
    readonly used: number[];
    readonly max: number[];
    readonly pending: number[];
    readonly threadsConnected: (number | null)[];
    readonly budget: (number | null)[];
  };
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Takes a sample once a second from what the recorder counts anyway: differences of its running totals and
 * its interval histogram, so the hot path pays one more histogram record per request and nothing else.
 */
export class TimeSeriesSampler {
  readonly series: TimeSeries = {
    t: [],
    requests: [],
    errors: [],
    p50Ms: [],
    p95Ms: [],
    p99Ms: [],
    statuses: {},
    server: { t: [], used: [], max: [], pending: [], threadsConnected: [], budget: [] },
  };
  private lastRequests = 0;
  private lastErrors = 0;
  private readonly lastStatus = new Map<string, number>();
  private lastScrapes = 0;

  constructor(
    private readonly recorder: Recorder,
    private readonly server: ServerMetricsWatcher,
    private readonly startedAt: number,
  ) {}

  sample(now = performance.now()): void {
    const s = this.series;
    const r = this.recorder;
    s.t.push(round((now - this.startedAt) / 1000, 3));
    s.requests.push(r.requests - this.lastRequests);
    s.errors.push(r.errorTotal() - this.lastErrors);
    this.lastRequests = r.requests;
    this.lastErrors = r.errorTotal();
    const interval = r.interval;
    // A percentile is its bucket's upper bound: never above the interval's exact max.
    const at = (p: number) =>
      interval.totalCount === 0 ? null : Math.min(interval.maxValue, interval.getValueAtPercentile(p)) / 1000;
    s.p50Ms.push(at(50));
    s.p95Ms.push(at(95));
    s.p99Ms.push(at(99));
    interval.reset();
    const samples = s.t.length;
    for (const [key, count] of r.statusCounts) {
      s.statuses[key] ??= new Array<number>(samples - 1).fill(0);
      const series = s.statuses[key];
      series.push(count - (this.lastStatus.get(key) ?? 0));
      this.lastStatus.set(key, count);
    }
    this.sampleServer();
  }

  /** The latest scrape, if it is new since the last sample (one that failed leaves a gap). */
  private sampleServer(): void {
    const snapshot = this.server.latest;
    if (this.server.scrapes === this.lastScrapes || !snapshot) return;
    this.lastScrapes = this.server.scrapes;
    const s = this.series.server;
    s.t.push(Math.max(0, round((this.server.latestAt - this.startedAt) / 1000, 3)));
    s.used.push(snapshot.used);
    s.max.push(snapshot.max);
    s.pending.push(snapshot.pending);
    s.threadsConnected.push(snapshot.threadsConnected ?? null);
    s.budget.push(snapshot.budget ?? null);
  }
}
