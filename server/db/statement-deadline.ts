import type { Logger } from 'pino';
import { serverClosed } from './connection-closer.js';
import { abortCode, cutOff, DatabaseUnavailableError, errorCode, isConnectionLost, NotSentError } from './db-errors.js';
import type { PoolObserver } from './pool-observer.js';
import type { PooledConnection } from './pooled-connection.js';

export interface StatementOptions {
  /**
   * The statement may commit (statement-kind.ts): cut off once sent, by its deadline, an abort or a lost connection,
   * it fails with OutcomeUnknownError instead of DatabaseUnavailableError.
   */
  readonly mayCommit: boolean;
  /**
   * The borrower's cancellation (the request's deadline). Aborted before the statement: it is refused at once, never
   * sent. Aborted while it runs: it is abandoned exactly as at the statement deadline.
   */
  readonly signal?: AbortSignal | undefined;
}

export interface StatementDeadline {
  /** Runs one statement, failing it with `query_timeout` at the borrower's deadline (`pooled.deadlineAt`). */
  run<T>(pooled: PooledConnection, statement: () => Promise<T>, options: StatementOptions): Promise<T>;
}

/**
 * The statement deadline, and the borrower's abort. mysql2's own per-query `timeout` is not used: it fails the query
 * but leaves the command queued on the connection (a late result would be read as the answer to the next statement)
 * and the connection looking healthy, so the pool would hand it out again. Here a statement past the deadline, or
 * whose borrower gave up, abandons its connection: destroyed, never reused, and its server thread killed so the
 * statement does not run on in MySQL, and a transaction it was part of is rolled back instead of committed later.
 */
export function createStatementDeadline(deps: {
  /** The pool's one way to close a connection: destroyed and its server thread killed. */
  readonly close: (pooled: PooledConnection, how: 'abandon') => Promise<void>;
  readonly observer: PoolObserver;
  readonly logger: Logger;
  readonly now: () => number;
}): StatementDeadline {
  const { close, observer, logger, now } = deps;

  function abandon(pooled: PooledConnection, reason: 'query_timeout' | 'aborted'): void {
    if (pooled.closing) return;
    pooled.dead = true;
    pooled.closeReason = reason;
    if (reason === 'query_timeout') observer.statementTimedOut();
    logger.warn(
      { threadId: pooled.threadId, heldMs: Math.round(now() - pooled.acquiredAt), reason },
      reason === 'query_timeout'
        ? 'statement deadline reached; destroying the connection and killing its server thread'
        : 'statement abandoned by its caller; destroying the connection and killing its server thread',
    );
    void close(pooled, 'abandon');
  }

  return {
    run<T>(pooled: PooledConnection, statement: () => Promise<T>, options: StatementOptions): Promise<T> {
      const { mayCommit, signal } = options;
      // Not sent: nothing can have been written by it.
      if (signal?.aborted) return Promise.reject(new DatabaseUnavailableError(abortCode(signal)));
      if (pooled.closing) return Promise.reject(new DatabaseUnavailableError('query_timeout'));
      // The server closed it (or it broke) before this statement: never sent, so nothing of it happened. Sending it
      // would fail as a lost connection, which for a write means "may have committed".
      if (pooled.dead || serverClosed(pooled.connection)) {
        pooled.dead = true;
        return Promise.reject(new NotSentError('connection_closed'));
      }
      const remaining = pooled.deadlineAt - now();
      if (remaining <= 0) {
        abandon(pooled, 'query_timeout');
        return Promise.reject(new DatabaseUnavailableError('query_timeout'));
      }
      return new Promise<T>((resolve, reject) => {
        const settle = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const timer = setTimeout(() => {
          settle();
          abandon(pooled, 'query_timeout');
          reject(cutOff('query_timeout', mayCommit));
        }, remaining);
        // Runs inside abort(): the statement is rejected before the aborting code reads what the request answers.
        const onAbort = () => {
          settle();
          abandon(pooled, 'aborted');
          reject(cutOff(abortCode(signal!), mayCommit));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        statement().then(
          (value) => {
            settle();
            resolve(value);
          },
          (error: unknown) => {
            settle();
            // An answer from the server (a duplicate key, a deadlock) says the statement failed; a lost connection
            // says nothing about how it ended.
            if (mayCommit && isConnectionLost(error)) {
              pooled.dead = true;
              reject(cutOff(errorCode(error), true, { cause: error }));
            } else reject(error);
          },
        );
      });
    },
  };
}
