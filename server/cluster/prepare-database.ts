import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Connection } from 'mysql2/promise';
import { openAdminConnection, readServerLimits } from '../db/admin-connection.js';
import { budgetFor, type ConnectionBudget } from '../budget/connection-budget.js';
import { errorCode, isUnavailableError } from '../db/db-errors.js';
import { runMigrations } from '../db/run-migrations.js';

/**
 * Before any worker exists: create the database if needed, migrate, read the server's connection limits
 * and compute the budget. Waits for a database that is still starting, up to `waitMs`.
 */
export async function prepareDatabase(config: Config, logger: Logger, waitMs = 30_000): Promise<ConnectionBudget> {
  const { host, port, database, user } = config.db.connection;
  const giveUpAt = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const connection = await openAdminConnection(config.db.connection, config.db.acquireTimeoutMs * 2);
      try {
        await runMigrations(connection, logger);
        return await budgetFromServer(config, connection, logger);
      } finally {
        await connection.end().catch(() => connection.destroy());
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
export async function recomputeBudget(config: Config, logger: Logger): Promise<ConnectionBudget> {
  // A server that accepts but stalls must not hold the reload (and every later SIGHUP) forever: connecting has its
  // connect timeout, and everything together (the CREATE DATABASE / USE on connect, the read) one deadline.
  const deadlineMs = config.db.acquireTimeoutMs * 2 + config.db.queryTimeoutMs;
  let connection: Connection | undefined;
  const work = (async () => {
    connection = await openAdminConnection(config.db.connection, config.db.acquireTimeoutMs * 2);
    return budgetFromServer(config, connection, logger);
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`MySQL did not answer within ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    const budget = await Promise.race([work, deadline]);
    await connection?.end().catch(() => connection?.destroy());
    return budget;
  } catch (error) {
    connection?.destroy();
    // A connection that opens after the deadline is closed as soon as it exists.
    work.then(
      () => connection?.destroy(),
      () => undefined,
    );
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function budgetFromServer(config: Config, connection: Connection, logger: Logger): Promise<ConnectionBudget> {
  const limits = await readServerLimits(connection);
  const budget = budgetFor(config, limits);
  logger.info({ budget, ...limits }, 'connection budget');
  return budget;
}
