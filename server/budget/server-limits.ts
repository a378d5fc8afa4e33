/**
 * What MySQL allows: the server's limits as read from it, and the one limit they amount to for this account.
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
export const raiseAdvice: Record<LimitSource, string> = {
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
