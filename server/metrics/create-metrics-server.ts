import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { MetricsJson, WorkerMetricsResult } from './worker-metrics-ipc.js';

export interface MetricsServerDeps {
  readonly logger: Logger;
  /** The primary's own series (budget, cluster, process metrics), read after the workers' so a scrape failure counts at once. */
  readonly collectOwn: () => Promise<MetricsJson>;
  /** Collects the workers' metrics; answers within its own timeout. */
  readonly collectWorkers: () => Promise<WorkerMetricsResult>;
  /** Series read alongside the workers' (MySQL's status: a query, so it runs while the workers answer). */
  readonly collectAlongside?: () => Promise<MetricsJson>;
  readonly onWorkerMissing: (slot: number) => void;
}

/**
 * The one /metrics for the whole cluster, served by the primary on METRICS_PORT (never the API port).
 * Worker series keep their `worker` label; prom-client's aggregate() sums identical label sets, which
 * for per-worker series is the identity.
 */
export function createMetricsServer(deps: MetricsServerDeps): Server {
  async function render(): Promise<string> {
    const [workers, alongside] = await Promise.all([deps.collectWorkers(), deps.collectAlongside?.() ?? []]);
    workers.failedSlots.forEach(deps.onWorkerMissing);
    const own = await deps.collectOwn();
    return AggregatorRegistry.aggregate([...workers.answered, [...own, ...alongside]]).metrics();
  }

  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('try /metrics\n');
      return;
    }
    render().then(
      (text) =>
        res
          .writeHead(200, { 'Content-Type': AggregatorRegistry.PROMETHEUS_CONTENT_TYPE })
          .end(req.method === 'HEAD' ? undefined : text),
      (error: unknown) => {
        deps.logger.error({ err: error }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
}
