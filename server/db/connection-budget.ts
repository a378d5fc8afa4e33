/**
 * The connection budget: how many connections each worker's pool may open so that every pool of every
 * replica together can never exceed what MySQL allows. See issue 2, "The connection budget".
 */
export interface ServerLimits {
  /** @@max_connections */
  readonly maxConnections: number;
  /** @@max_user_connections; 0 means "no per-user limit". */
  readonly maxUserConnections: number;
}

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
  /** The smaller of max_connections and a non-zero max_user_connections. */
  readonly limit: number;
  readonly limitSource: 'max_connections' | 'max_user_connections';
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
  const userLimited = limits.maxUserConnections > 0 && limits.maxUserConnections < limits.maxConnections;
  const limit = userLimited ? limits.maxUserConnections : limits.maxConnections;
  const limitSource = userLimited ? 'max_user_connections' : 'max_connections';
  // Every replica has its own primary, so the primaries' connections scale with the replica count too.
  const usable = limit - reservedConnections - replicas * primaryConnections;
  const pools = replicas * (workers + surgeWorkers);
  const fair = Math.floor(usable / pools);
  if (fair < 1) {
    throw new BudgetError(
      `Connection budget too small: ${limitSource}=${limit} − DB_RESERVED_CONNECTIONS=${reservedConnections}` +
        ` − ${replicas * primaryConnections} for the primary process(es) leaves ${usable} connections for` +
        ` APP_REPLICAS=${replicas} × (WORKERS=${workers} + ${surgeWorkers} reload surge) = ${pools} pools: less than 1 each.` +
        ` Lower WORKERS, APP_REPLICAS or DB_RESERVED_CONNECTIONS, or raise MySQL's ${limitSource}.`,
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
    worstCaseConnections: replicas * ((workers + surgeWorkers) * perWorker + primaryConnections),
  };
}
