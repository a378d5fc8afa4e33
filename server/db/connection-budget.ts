/**
 * The connection budget: how many connections each worker's pool may open so that every pool of every
 * replica together can never exceed what MySQL allows (connections, and the prepared statements they hold).
 */
export interface ServerLimits {
  /** @@max_connections */
  readonly maxConnections: number;
  /** @@GLOBAL.max_user_connections; 0 means "no per-user limit". */
  readonly maxUserConnections: number;
  /**
   * @@SESSION.max_user_connections of the account we log in as: its own `MAX_USER_CONNECTIONS` when it has one
   * (managed and shared servers set it per account and leave the global 0), else the global value; 0 means none.
   */
  readonly accountMaxUserConnections: number;
  /** @@GLOBAL.max_prepared_stmt_count: prepared statements the server holds for all its connections together. */
  readonly maxPreparedStatements: number;
}

/**
 * Prepared statements one pool connection may hold at once: mysql2's per-connection statement cache is capped at
 * this (the least recently used one is closed on the server), and the service runs fewer distinct statements than
 * that. So `max_prepared_stmt_count / preparedStatementsPerConnection` connections can never make the server refuse a
 * statement (ER_MAX_PREPARED_STMT_COUNT_REACHED): it is a limit on connections like the others.
 */
export const preparedStatementsPerConnection = 20;

export type LimitSource =
  | 'max_connections'
  | 'max_user_connections_global'
  | 'max_user_connections_account'
  | 'max_prepared_stmt_count';

/** What to tell an operator to raise, per bound. */
const raiseAdvice: Record<LimitSource, string> = {
  max_connections: "raise MySQL's max_connections",
  max_user_connections_global: "raise MySQL's max_user_connections",
  max_user_connections_account: "raise the account's MAX_USER_CONNECTIONS (ALTER USER … WITH MAX_USER_CONNECTIONS n)",
  max_prepared_stmt_count: `raise MySQL's max_prepared_stmt_count (${preparedStatementsPerConnection} per pool connection)`,
};

/** The tightest of the server's limits; a tie goes to the wider scope (the account value echoes the global one). */
export function effectiveLimit(limits: ServerLimits): { limit: number; limitSource: LimitSource } {
  const candidates: [LimitSource, number][] = [
    ['max_connections', limits.maxConnections],
    ['max_user_connections_global', limits.maxUserConnections],
    ['max_user_connections_account', limits.accountMaxUserConnections],
  ];
  let best: { limit: number; limitSource: LimitSource } = {
    limit: limits.maxConnections,
    limitSource: 'max_connections',
  };
  for (const [limitSource, limit] of candidates) if (limit > 0 && limit < best.limit) best = { limit, limitSource };
  // Unlike max_user_connections, 0 here is no "no limit": the server then prepares no statement at all.
  const byStatements = Math.floor(limits.maxPreparedStatements / preparedStatementsPerConnection);
  if (byStatements < best.limit) best = { limit: byStatements, limitSource: 'max_prepared_stmt_count' };
  return best;
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
    worstCaseConnections: replicas * ((workers + surgeWorkers) * perWorker + primaryConnections),
  };
}
