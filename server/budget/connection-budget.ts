import type { Config } from '../config/config.js';
import { effectiveLimit, raiseAdvice, type LimitSource, type ServerLimits } from './server-limits.js';
import { replicaShape, reloadSurgeWorkers, type ReplicaShape } from './replica-shape.js';

/*
 * The connection budget, fixed and live, in one type: how many connections each worker's pool may open so that every
 * pool of every replica together can never exceed what MySQL allows (connections, and the prepared statements they
 * hold). Fixed (APP_REPLICAS=n): computed once from the server's limits (computeConnectionBudget). Live
 * (APP_REPLICAS=auto): the ceiling and grant agreed with the other replicas through MySQL (live-shares.ts), reported
 * in the same type (liveBudget).
 */

export interface BudgetInput {
  readonly limits: ServerLimits;
  readonly poolMax: number;
  readonly reservedConnections: number;
  readonly replicas: number;
  readonly workers: number;
  /** Connections the primary process itself holds (the MySQL status reader). */
  readonly primaryConnections: number;
  /**
   * Extra workers that may run at once per replica. A rolling reload starts the new worker before the old
   * one stops, so for a moment there are `workers + 1` pools; the budget pays for that slot up front.
   */
  readonly surgeWorkers: number;
}

export interface ConnectionBudget {
  /**
   * The smallest of max_connections, the non-zero global and account max_user_connections, and the connections
   * max_prepared_stmt_count has statements for.
   */
  readonly limit: number;
  readonly limitSource: LimitSource;
  readonly reservedConnections: number;
  readonly primaryConnections: number;
  readonly replicas: number;
  readonly workers: number;
  readonly surgeWorkers: number;
  /** What every replica's pools together may use: limit − reserve − primaries. */
  readonly usable: number;
  /** The pool size each worker gets (its `connectionLimit`). */
  readonly perWorker: number;
  /** Why perWorker is what it is: the DB_POOL_MAX ceiling or the server's limit. */
  readonly boundBy: 'DB_POOL_MAX' | 'server_limit';
  /** Every connection this replica may hold: its primary's plus (workers + surge) pools at perWorker. */
  readonly granted: number;
  /** The most connections this deployment can ever hold: replicas × ((workers + surge) × perWorker + primaries). */
  readonly worstCaseConnections: number;
}

export class BudgetError extends Error {
  override readonly name = 'BudgetError';
  constructor(
    message: string,
    readonly input: BudgetInput,
  ) {
    super(message);
  }
}

export function computeConnectionBudget(input: BudgetInput): ConnectionBudget {
  const { limits, poolMax, reservedConnections, replicas, workers, primaryConnections, surgeWorkers } = input;
  const { limit, limitSource } = effectiveLimit(limits);
  // Every replica has its own primary, so the primaries' connections scale with the replica count too.
  const usable = limit - reservedConnections - replicas * primaryConnections;
  const pools = replicas * (workers + surgeWorkers);
  const fair = Math.floor(usable / pools);
  if (fair < 1) {
    throw new BudgetError(
      `Connection budget too small: ${limitSource}=${limit} − DB_RESERVED_CONNECTIONS=${reservedConnections}` +
        ` − ${replicas * primaryConnections} for the primary process(es) leaves ${usable} connections for` +
        ` APP_REPLICAS=${replicas} × (WORKERS=${workers} + ${surgeWorkers} reload surge) = ${pools} pools: less than 1 each.` +
        ` Lower WORKERS, APP_REPLICAS or DB_RESERVED_CONNECTIONS, or ${raiseAdvice[limitSource]}.`,
      input,
    );
  }
  const perWorker = Math.min(poolMax, fair);
  return {
    limit,
    limitSource,
    reservedConnections,
    primaryConnections,
    replicas,
    workers,
    surgeWorkers,
    usable,
    perWorker,
    boundBy: perWorker === poolMax && poolMax <= fair ? 'DB_POOL_MAX' : 'server_limit',
    granted: (workers + surgeWorkers) * perWorker + primaryConnections,
    worstCaseConnections: replicas * ((workers + surgeWorkers) * perWorker + primaryConnections),
  };
}

/**
 * The budget this configuration gets from a server with these limits. With APP_REPLICAS=auto: the budget of a replica
 * alone, so a configuration in which not even one replica fits fails at start (the live shares come later).
 */
export function budgetFor(config: Config, limits: ServerLimits): ConnectionBudget {
  const live = config.cluster.replicas === 'auto';
  const shape = replicaShape({ workers: config.cluster.workers, poolMax: config.db.poolMax });
  return computeConnectionBudget({
    limits,
    poolMax: shape.poolMax,
    reservedConnections: config.db.reservedConnections,
    replicas: live ? 1 : (config.cluster.replicas as number),
    workers: config.cluster.workers,
    primaryConnections: shape.primaryConnections,
    surgeWorkers: reloadSurgeWorkers,
  });
}

/** APP_REPLICAS=auto: the budget as this replica sees it after a coordination step. */
export function liveBudget(input: {
  readonly limits: ServerLimits | undefined;
  readonly reservedConnections: number;
  readonly shape: ReplicaShape;
  readonly workers: number;
  /** Live replicas counted, this one included. */
  readonly replicas: number;
  /** The pools' current ceiling. */
  readonly ceiling: number;
  /** This replica's published grant. */
  readonly granted: number;
}): ConnectionBudget {
  const { shape, ceiling, replicas, reservedConnections } = input;
  const { limit, limitSource } = input.limits
    ? effectiveLimit(input.limits)
    : { limit: 0, limitSource: 'max_connections' as const };
  return {
    limit,
    limitSource,
    reservedConnections,
    primaryConnections: shape.primaryConnections,
    replicas,
    workers: input.workers,
    surgeWorkers: shape.pools - input.workers,
    usable: Math.max(0, limit - reservedConnections - replicas * shape.primaryConnections),
    perWorker: ceiling,
    boundBy: ceiling === shape.poolMax ? 'DB_POOL_MAX' : 'server_limit',
    granted: input.granted,
    worstCaseConnections: input.granted,
  };
}

// A pool shrunk to a few connections (or fenced at 0) still lets requests through to get their answer, a 503 at worst.
const minimumConcurrentRequests = 16;

/** HTTP_MAX_CONCURRENT_REQUESTS=pool: requests a worker runs at once for a pool of `ceiling` connections. */
export const requestsAtOnce = (ceiling: number): number => Math.max(minimumConcurrentRequests, 2 * ceiling);
