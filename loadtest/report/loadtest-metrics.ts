import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../engine/requester.js';
import type { RequestName } from '../engine/scenario-spec.js';

/**
 * The tester's own metrics, in a registry of its own, for Prometheus's `loadtest` job (port 9465) and the
 * dashboard's load-test row. Every series carries `run_id`, so two runs (or a run and a restart of the same
 * test) are never summed into one. Label children are cached so recording a request allocates nothing.
 */
export class LoadtestMetrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'run_id' | 'scenario' | 'name' | 'status'>;
  private readonly duration: Histogram<'run_id' | 'scenario' | 'name'>;
  private readonly counters = new Map<string, Map<string, Counter.Internal>>();
  private readonly histograms = new Map<string, Histogram.Internal<'run_id' | 'scenario' | 'name'>>();
  private server: Server | undefined;

  constructor(
    private readonly scenario: string,
    activeConnections: () => number,
    private readonly runId: string,
  ) {
    this.requests = new Counter({
      name: 'loadtest_requests_total',
      help: 'Requests the load tester finished, by run, scenario, request name and HTTP status (or failure cause when no response arrived).',
      labelNames: ['run_id', 'scenario', 'name', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'loadtest_request_duration_seconds',
      help: 'Latency of the load tester requests that got a response, from send to the last byte.',
      labelNames: ['run_id', 'scenario', 'name'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    new Gauge({
      name: 'loadtest_active_connections',
      help: 'HTTP connections the load tester has open now.',
      labelNames: ['run_id'],
      registers: [this.registry],
      collect() {
        this.set({ run_id: runId }, activeConnections());
      },
    });
  }

  observe(name: RequestName, status: string, seconds: number | undefined): void {
    let byStatus = this.counters.get(name);
    if (!byStatus) {
      byStatus = new Map();
      this.counters.set(name, byStatus);
    }
    let counter = byStatus.get(status);
    if (!counter) {
      counter = this.requests.labels(this.runId, this.scenario, name, status);
      byStatus.set(status, counter);
    }
    counter.inc();
    if (seconds === undefined) return;
    let histogram = this.histograms.get(name);
    if (!histogram) {
      histogram = this.duration.labels(this.runId, this.scenario, name);
      this.histograms.set(name, histogram);
    }
    histogram.observe(seconds);
  }

  /** Serves /metrics on `port` (all interfaces, so a Prometheus container can scrape it); a warning instead of failing. */
  async serve(port: number): Promise<string | undefined> {
    if (port === 0) return undefined;
    const server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, resolve);
      });
    } catch (error) {
      return `metrics port ${port} unavailable (${(error as NodeJS.ErrnoException).code ?? String(error)}): loadtest_* metrics are not served this run`;
    }
    this.server = server;
    return undefined;
  }

  get serving(): boolean {
    return this.server !== undefined;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
