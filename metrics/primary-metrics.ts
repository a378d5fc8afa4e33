import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ReloadOutcome } from '../server/cluster/rolling-reload.js';
import type { ConnectionBudget } from '../server/db/connection-budget.js';

export interface ClusterCounts {
  readonly byState: Readonly<Record<'starting' | 'ready' | 'stopping', number>>;
}

export interface PrimaryMetrics {
  readonly registry: Registry;
  workerRestarted(slot: number): void;
  scrapeFailed(slot: number): void;
  /** A reload recomputed the budget and its new workers run with it. */
  budgetChanged(budget: ConnectionBudget): void;
  reloadEnded(outcome: ReloadOutcome): void;
}

/**
 * What only the primary knows: the budget it computed (at start, and again at each accepted SIGHUP), its workers'
 * states, restarts and reloads, scrape failures, and its own process metrics (label worker="primary"). Aggregator
 * `first`: these series exist once, and summing a budget would be wrong if it ever appeared twice.
 */
export function createPrimaryMetrics(deps: { budget: ConnectionBudget; counts: () => ClusterCounts }): PrimaryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, labels: { worker: 'primary' } });
  const registers = [registry];
  const { budget } = deps;
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers, aggregator: 'first' });
  const constant = (name: string, help: string, value: number) => gauge(name, help).set(value);

  const usable = gauge('db_pool_budget_connections', 'Connections all pools of all replicas may use together: limit − reserve − primaries.');
  const reserved = gauge('db_pool_budget_reserved_connections', 'Connections left for admins, migrations and other clients (DB_RESERVED_CONNECTIONS).');
  const perWorker = gauge('db_pool_budget_per_worker_connections', "Each worker's pool size, as computed by the budget.");
  const limit = gauge('db_pool_budget_limit_connections', 'The server limit the budget was computed from (the smallest of max_connections and the global and account max_user_connections).');
  // Which limit bound the budget, as an info-style series (value 1), so the dashboard can show it by name.
  const limitInfo = new Gauge({ name: 'db_pool_budget_limit_info', help: 'The server limit that bound the budget (limit_source label); always 1.', labelNames: ['limit_source'], registers, aggregator: 'first' });
  function showBudget(next: ConnectionBudget): void {
    usable.set(next.usable);
    reserved.set(next.reservedConnections);
    perWorker.set(next.perWorker);
    limit.set(next.limit);
    limitInfo.reset();
    limitInfo.set({ limit_source: next.limitSource }, 1);
  }
  showBudget(budget);
  constant('app_replicas', 'Replicas sharing this MySQL, as configured (APP_REPLICAS).', budget.replicas);
  constant('cluster_workers_configured', 'Workers this primary keeps running (WORKERS).', budget.workers);

  new Gauge({
    name: 'cluster_workers',
    help: 'Worker processes by state.',
    labelNames: ['state'],
    registers,
    aggregator: 'first',
    collect() {
      for (const [state, count] of Object.entries(deps.counts().byState)) this.set({ state }, count);
    },
  });
  const restarts = new Counter({ name: 'cluster_worker_restarts_total', help: 'Workers restarted after dying unexpectedly.', labelNames: ['worker'], registers, aggregator: 'first' });
  const reloads = new Counter({
    name: 'cluster_reloads_total',
    help: 'SIGHUP rolling reloads by outcome: completed (every worker replaced), refused (the budget did not fit or MySQL could not be read; no worker replaced), aborted (stopped part way).',
    labelNames: ['outcome'],
    registers,
    aggregator: 'first',
  });
  for (const outcome of ['completed', 'refused', 'aborted']) reloads.inc({ outcome }, 0);
  const failures = new Counter({ name: 'cluster_scrape_failures_total', help: 'Workers that did not answer a /metrics scrape in time.', labelNames: ['worker'], registers, aggregator: 'first' });

  // Zero series per slot from the start, so increase() sees the first restart or failure.
  for (let slot = 0; slot < budget.workers; slot++) {
    restarts.inc({ worker: String(slot) }, 0);
    failures.inc({ worker: String(slot) }, 0);
  }

  return {
    registry,
    workerRestarted: (slot) => restarts.inc({ worker: String(slot) }),
    scrapeFailed: (slot) => failures.inc({ worker: String(slot) }),
    budgetChanged: showBudget,
    reloadEnded(outcome) {
      if (outcome !== 'skipped') reloads.inc({ outcome });
    },
  };
}
