import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Connection } from 'mysql2/promise';
import { openAdminConnection, readServerLimits } from '../db/admin-connection.js';
import { budgetFor, type ConnectionBudget } from '../budget/connection-budget.js';
import { withDeadline } from '../deadline/with-deadline.js';
import type { ConnectionCloser } from '../db/connection-closer.js';
import { errorCode, isUnavailableError } from '../db/db-errors.js';
import { runMigrations } from '../db/run-migrations.js';
import { readServerIdentity } from '../db/server-identity.js';

export interface PreparedDatabase {
  readonly budget: ConnectionBudget;
  /** The @@server_id the budget was computed on: the server watch compares later ones with it (server-watch.ts). */
  readonly serverId: number;
}

/**
 * Before any worker exists: create the database if needed, migrate, read the server's connection limits
 * and compute the budget. Waits for a database that is still starting, up to `waitMs`.
 */
export async function prepareDatabase(
  config: Config,
  deps: { readonly logger: Logger; readonly closer: ConnectionCloser },
  waitMs = 30_000,
): Promise<PreparedDatabase> {
  const { logger, closer } = deps;
  const { host, port, database, user } = config.db.connection;
  const giveUpAt = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const connection = await openAdminConnection(config.db.connection, config.db.acquireTimeoutMs * 2);
      let serverId: number | undefined;
      try {
        ({ serverId } = await readServerIdentity(connection));
        await runMigrations(connection, logger);
        return { budget: await budgetFromServer(config, connection, logger), serverId };
      } finally {
        await closer.close(connection, 'quit', serverId);
      }
    } catch (error) {
      if (!isUnavailableError(error) || Date.now() >= giveUpAt) throw error;
      logger.warn(
        { code: errorCode(error), host, port, database, user, attempt },
        'database not reachable yet; retrying',
      );
      await sleep(1000);
    }
  }
}

/**
 * SIGHUP: the budget again, from MySQL's limits as they are now (max_connections or max_user_connections may have
 * changed at runtime). No waiting and no migrations: a server that cannot be reached, or limits the budget cannot
 * fit, throw, and the caller refuses the reload.
 */
export async function recomputeBudget(
  config: Config,
  deps: { readonly logger: Logger; readonly closer: ConnectionCloser },
): Promise<ConnectionBudget> {
  const { logger, closer } = deps;
  // A server that accepts but stalls must not hold the reload (and every later SIGHUP) forever: connecting has its
  // connect timeout, and everything together (the CREATE DATABASE / USE on connect, the read) one deadline.
  const deadlineMs = config.db.acquireTimeoutMs * 2 + config.db.queryTimeoutMs;
  let opened: Connection | undefined;
  try {
    return await withDeadline(
      deadlineMs,
      async (signal) => {
        const connection = await openAdminConnection(config.db.connection, config.db.acquireTimeoutMs * 2);
        opened = connection;
        if (signal.aborted) throw new Error('connected after the deadline');
        const budget = await budgetFromServer(config, connection, logger);
        await closer.close(connection, 'quit');
        return budget;
      },
      { what: `reading MySQL's limits (${deadlineMs} ms)` },
    );
  } catch (error) {
    // Given up at the deadline (or failed): the connection, once it exists, is abandoned and its thread killed.
    if (opened) void closer.close(opened, 'abandon');
    throw error;
  }
}

async function budgetFromServer(config: Config, connection: Connection, logger: Logger): Promise<ConnectionBudget> {
  const limits = await readServerLimits(connection);
  const budget = budgetFor(config, limits);
  logger.info({ budget, ...limits }, 'connection budget');
  return budget;
}
