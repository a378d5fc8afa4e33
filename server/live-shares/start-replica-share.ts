import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ConnectionBudget } from '../budget/connection-budget.js';
import type { ConnectionCloser } from '../db/connection-closer.js';
import type { Worker } from 'node:cluster';
import type { PrimaryInbox, WorkerSpec } from '../protocol/messages.js';
import { createPoolCeilings } from './pool-ceilings.js';
import { replicaShape } from '../budget/replica-shape.js';
import { createReplicaCoordinator, type CoordinatorObserver, type ReplicaCoordinator } from './replica-coordinator.js';

/** How often a replica renews its lease, and how long a lease lasts on MySQL's clock (docs/replicas.md). */
export const replicaHeartbeatMs = 1000;
export const replicaLeaseMs = 5000;

export interface ReplicaShare {
  readonly coordinator: ReplicaCoordinator;
  /** The spec of a worker about to be forked: the current ceiling and claim. */
  spec(slot: number): WorkerSpec;
}

/**
 * APP_REPLICAS=auto: joins the replicas sharing MySQL and waits (up to two leases: long enough for the others to
 * shrink) for a first share. What it observes goes to `observer` (the primary's metrics, once they exist).
 */
export async function startReplicaShare(
  config: Config,
  budget: ConnectionBudget,
  deps: {
    readonly logger: Logger;
    /** The primary's one rule for giving up a connection (connection-closer.ts). */
    readonly closer: ConnectionCloser;
    readonly observer: CoordinatorObserver;
    /** Every worker's messages: the pools confirm lower ceilings there. */
    readonly inbox: PrimaryInbox<Worker>;
  },
): Promise<ReplicaShare> {
  const { logger } = deps;
  const ceilings = createPoolCeilings({ ceiling: 0, replicaId: undefined }, { inbox: deps.inbox });
  const coordinator = createReplicaCoordinator(
    {
      connection: config.db.connection,
      shape: replicaShape({ workers: config.cluster.workers, poolMax: config.db.poolMax }),
      workers: config.cluster.workers,
      reservedConnections: config.db.reservedConnections,
      heartbeatMs: replicaHeartbeatMs,
      leaseMs: replicaLeaseMs,
    },
    {
      logger,
      ceilings,
      closer: deps.closer,
      observer: deps.observer,
    },
  );
  await coordinator.start(2 * replicaLeaseMs);
  logger.info({ perWorker: ceilings.current(), limit: budget.limit }, 'replica share agreed');
  return {
    coordinator,
    spec(slot) {
      const { ceiling, replicaId } = ceilings.forFork();
      return { config, budget: { ...coordinator.budget(), perWorker: ceiling }, slot, replicaId };
    },
  };
}
