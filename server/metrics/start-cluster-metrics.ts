import type { Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { PrimaryInbox } from '../protocol/messages.js';
import type { ReloadOutcome } from '../lifecycle/rolling-reload.js';
import type { Config } from '../config/config.js';
import type { ConnectionBudget } from '../budget/connection-budget.js';
import { createWorkerMetricsCollector, type MetricsSource } from './worker-metrics-ipc.js';
import { createMetricsServer } from './create-metrics-server.js';
import { createMysqlStatusMetrics, type StatusSource } from './mysql-status-metrics.js';
import { createPrimaryMetrics, type ClusterCounts, type PrimaryMetrics } from './primary-metrics.js';

/** How long a scrape waits for each worker; a hung worker costs the scrape at most this. */
export const workerScrapeTimeoutMs = 1000;
/** MySQL status is read at most once a second and may take this long before mysql_up goes 0. */
const mysqlStatusTimeoutMs = 500;

export interface ClusterMetrics {
  readonly server: Server;
  workerRestarted(slot: number): void;
  budgetChanged(budget: ConnectionBudget): void;
  reloadEnded(outcome: ReloadOutcome): void;
  /** Another server takes writes (server-watch.ts). */
  failoverSeen(): void;
  readonly replicas: Pick<PrimaryMetrics, 'replicaObserved' | 'shareChanged' | 'leaseRenewFailed' | 'fenced'>;
  close(): Promise<void>;
}

/** The primary's side of metrics: its registry, MySQL's status, the workers' metrics, one /metrics. */
export async function startClusterMetrics(
  config: Config,
  budget: ConnectionBudget,
  deps: {
    logger: Logger;
    counts: () => ClusterCounts;
    workers: () => readonly MetricsSource[];
    /** Every worker's messages: their metrics come back there. */
    inbox: PrimaryInbox<Worker>;
    /** The primary's one connection, where MySQL's status is read (mysql-status-metrics.ts). */
    statusSource: StatusSource;
  },
): Promise<ClusterMetrics> {
  const primaryMetrics = createPrimaryMetrics(
    { budget, counts: deps.counts },
    { auto: config.cluster.replicas === 'auto' },
  );
  const mysqlStatus = createMysqlStatusMetrics(
    { timeoutMs: mysqlStatusTimeoutMs, minIntervalMs: 1000 },
    { logger: deps.logger, source: deps.statusSource },
  );
  const collect = createWorkerMetricsCollector({ timeoutMs: workerScrapeTimeoutMs }, { inbox: deps.inbox });
  const server = createMetricsServer({
    logger: deps.logger,
    collectOwn: () => primaryMetrics.registry.getMetricsAsJSON(),
    collectWorkers: () => collect(deps.workers()),
    collectAlongside: () => mysqlStatus.collect(),
    onWorkerMissing: (slot) => {
      primaryMetrics.scrapeFailed(slot);
      deps.logger.warn({ slot, timeoutMs: workerScrapeTimeoutMs }, 'worker did not answer the metrics scrape');
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.port, config.http.host, () => resolve());
  });
  return {
    server,
    workerRestarted: primaryMetrics.workerRestarted,
    budgetChanged: primaryMetrics.budgetChanged,
    reloadEnded: primaryMetrics.reloadEnded,
    failoverSeen: primaryMetrics.failoverSeen,
    replicas: primaryMetrics,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mysqlStatus.close();
    },
  };
}
