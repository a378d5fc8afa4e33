import type { Logger } from 'pino';
import { DatabaseUnavailableError } from './db-errors.js';
import type { PoolObserver } from './pool-observer.js';
import type { PooledConnection } from './pooled-connection.js';

export interface StatementDeadline {
  /** Runs one statement, failing it with `query_timeout` at the borrower's deadline (`pooled.deadlineAt`). */
  run<T>(pooled: PooledConnection, statement: () => Promise<T>): Promise<T>;
}

/**
 * The statement deadline. mysql2's own per-query `timeout` is not used: it fails the query but leaves the command
 * queued on the connection (a late result would be read as the answer to the next statement) and the connection
 * looking healthy, so the pool would hand it out again. Here a statement past the deadline abandons its connection:
 * destroyed, never reused, and its server thread killed so the statement does not run on in MySQL.
 */
export function createStatementDeadline(deps: {
  /** The pool's one way to close a connection: destroyed and its server thread killed. */
  readonly close: (pooled: PooledConnection, how: 'abandon') => Promise<void>;
  readonly observer: PoolObserver;
  readonly logger: Logger;
  readonly now: () => number;
}): StatementDeadline {
  const { close, observer, logger, now } = deps;

  function abandon(pooled: PooledConnection): void {
    if (pooled.closing) return;
    pooled.dead = true;
    pooled.closeReason = 'query_timeout';
    observer.statementTimedOut();
    logger.warn(
      { threadId: pooled.threadId, heldMs: Math.round(now() - pooled.acquiredAt) },
      'statement deadline reached; destroying the connection and killing its server thread',
    );
    void close(pooled, 'abandon');
  }

  return {
    run<T>(pooled: PooledConnection, statement: () => Promise<T>): Promise<T> {
      if (pooled.closing) return Promise.reject(new DatabaseUnavailableError('query_timeout'));
      const remaining = pooled.deadlineAt - now();
      if (remaining <= 0) {
        abandon(pooled);
        return Promise.reject(new DatabaseUnavailableError('query_timeout'));
      }
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          abandon(pooled);
          reject(new DatabaseUnavailableError('query_timeout'));
        }, remaining);
        statement().then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    },
  };
}
