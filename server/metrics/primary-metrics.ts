import { Counter, Gauge, Registry } from 'prom-client';
import { collectProcessMetrics } from './create-process-registry.js';
import type { ReloadOutcome } from '../lifecycle/rolling-reload.js';
import type { ConnectionBudget } from '../budget/connection-budget.js';

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
  /** Another server takes writes behind DATABASE_URL (server-watch.ts). */
  failoverSeen(): void;
  /** APP_REPLICAS=auto, after every coordination step: the live budget, this replica's published grant included. */
  replicaObserved(budget: ConnectionBudget): void;
  shareChanged(direction: 'grow' | 'shrink'): void;
  leaseRenewFailed(): void;
  fenced(): void;
}

/**
 * What only the primary knows: the budget it computed (at start, and again at each accepted SIGHUP), its workers'
 * states, restarts and reloads, scrape failures, and its own process metrics (label worker="primary"). Aggregator
 * `first`: these series exist once, and summing a budget would be wrong if it ever appeared twice.
 */
export function createPrimaryMetrics(
  deps: { budget: ConnectionBudget; counts: () => ClusterCounts },
  config: { auto: boolean } = { auto: false },
): PrimaryMetrics {
  const registry = new Registry();
  collectProcessMetrics(registry, { worker: 'primary' });
  const registers = [registry];
  const { budget } = deps;
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers, aggregator: 'first' });
  const constant = (name: string, help: string, value: number) => gauge(name, help).set(value);

  const usable = gauge(
    'db_pool_budget_connections',
    'Connections all pools of all replicas may use together: limit − reserve − primaries.',
  );
  const reserved = gauge(
    'db_pool_budget_reserved_connections',
    'Connections left for admins, migrations and other clients (DB_RESERVED_CONNECTIONS).',
  );
  const perWorker = gauge(
    'db_pool_budget_per_worker_connections',
    "Each worker's pool size, as computed by the budget.",
  );
  const limit = gauge(
    'db_pool_budget_limit_connections',
    'The server limit the budget was computed from (the smallest of max_connections and the global and account max_user_connections).',
  );
  // Which limit bound the budget, as an info-style series (value 1), so the dashboard can show it by name.
  const limitInfo = new Gauge({
    name: 'db_pool_budget_limit_info',
    help: 'The server limit that bound the budget (limit_source label); always 1.',
    labelNames: ['limit_source'],
    registers,
    aggregator: 'first',
  });
  function showLimits(next: ConnectionBudget): void {
    usable.set(next.usable);
    reserved.set(next.reservedConnections);
    perWorker.set(next.perWorker);
    limit.set(next.limit);
    limitInfo.reset();
    limitInfo.set({ limit_source: next.limitSource }, 1);
  }
  const replicas = gauge(
    'db_pool_budget_replicas',
    'Replicas this primary counts as sharing MySQL: APP_REPLICAS, or with APP_REPLICAS=auto the live claims it saw last.',
  );
  const granted = gauge(
    'db_pool_budget_granted_connections',
    "Connections this replica may hold in all: its primary's plus (workers + surge) pools at the current ceiling; with APP_REPLICAS=auto its published grant.",
  );
  function showBudget(next: ConnectionBudget): void {
    showLimits(next);
    replicas.set(next.replicas);
    granted.set(next.granted);
  }
  showBudget(budget);
  constant(
    'app_replicas',
    'Replicas sharing this MySQL, as configured (APP_REPLICAS; 0 for auto).',
    config.auto ? 0 : budget.replicas,
  );
  const shareChanges = new Counter({
    name: 'db_pool_budget_share_changes_total',
    help: "APP_REPLICAS=auto: changes of this replica's published grant (grow: into free room; shrink: after its pools came down).",
    labelNames: ['direction'],
    registers,
    aggregator: 'first',
  });
  for (const direction of ['grow', 'shrink']) shareChanges.inc({ direction }, 0);
  const renewFailures = new Counter({
    name: 'db_pool_budget_lease_renew_failures_total',
    help: 'APP_REPLICAS=auto: coordination steps that failed (MySQL unreachable or too slow); the lease was not renewed.',
    registers,
    aggregator: 'first',
  });
  const fences = new Counter({
    name: 'db_pool_budget_fenced_total',
    help: 'APP_REPLICAS=auto: times this replica lost its lease and withdrew its whole share (503s until it joined again).',
    registers,
    aggregator: 'first',
  });
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
  const restarts = new Counter({
    name: 'cluster_worker_restarts_total',
    help: 'Workers restarted after dying unexpectedly.',
    labelNames: ['worker'],
    registers,
    aggregator: 'first',
  });
  const reloads = new Counter({
    name: 'cluster_reloads_total',
    help: 'SIGHUP rolling reloads by outcome: completed (every worker replaced), refused (the budget did not fit or MySQL could not be read; no worker replaced), aborted (stopped part way).',
    labelNames: ['outcome'],
    registers,
    aggregator: 'first',
  });
  for (const outcome of ['completed', 'refused', 'aborted']) reloads.inc({ outcome }, 0);
  const failovers = new Counter({
    name: 'db_failovers_seen_total',
    help: 'Failovers this replica saw: another server (@@server_id) takes writes behind DATABASE_URL than the one before (DB_FOLLOW_PRIMARY).',
    registers,
    aggregator: 'first',
  });
  const failures = new Counter({
    name: 'cluster_scrape_failures_total',
    help: 'Workers that did not answer a /metrics scrape in time.',
    labelNames: ['worker'],
    registers,
    aggregator: 'first',
  });

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
    failoverSeen: () => failovers.inc(),
    replicaObserved: showBudget,
    shareChanged: (direction) => shareChanges.inc({ direction }),
    leaseRenewFailed: () => renewFailures.inc(),
    fenced: () => fences.inc(),
  };
}
