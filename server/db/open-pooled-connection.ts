import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import type { DbConnectionOptions } from '../config/config.js';
import { preparedStatementsPerConnection } from '../budget/server-limits.js';
import { DatabaseUnavailableError, errorCode } from './db-errors.js';
import type { PoolObserver } from './pool-observer.js';
import type { PooledConnection } from './pooled-connection.js';

/** A connection's lifetime is shortened by up to this share, so connections opened together do not expire together. */
const lifetimeJitter = 0.1;

export interface OpenPooledConnectionSpec {
  readonly connection: DbConnectionOptions;
  readonly connectTimeoutMs: number;
  readonly maxLifetimeMs: number;
  /** Admits a new connection (APP_REPLICAS=auto registers it under the replica's claim); false closes it again. */
  readonly onConnect?: ((connection: mysql.Connection) => Promise<boolean>) | undefined;
  readonly observer: PoolObserver;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  /** Called with every connection that is opened and admitted. */
  readonly track: (pooled: PooledConnection) => void;
}

/** The pool's `create`: opens one MySQL connection with the session settings the service relies on, and wraps it. */
export function openPooledConnection(spec: OpenPooledConnectionSpec): () => Promise<PooledConnection> {
  const { observer, logger, now, random, maxLifetimeMs } = spec;
  return async () => {
    const started = now();
    let connection: mysql.Connection;
    try {
      connection = await mysql.createConnection({
        ...spec.connection,
        connectTimeout: spec.connectTimeoutMs,
        enableKeepAlive: true,
        keepAliveInitialDelay: 10_000,
        timezone: 'Z',
        charset: 'utf8mb4_unicode_ci',
        supportBigNumbers: true,
        // No async stack capture per query (a visible share of a busy worker's CPU): our errors never show stacks.
        trace: false,
        // The budget counts this many server-side statements per connection (mysql2's default cache is 16,000).
        maxPreparedStatements: preparedStatementsPerConnection,
      });
    } catch (error) {
      observer.connectionError(errorCode(error));
      throw error;
    }
    if (spec.onConnect) {
      const admitted = await spec.onConnect(connection).catch(() => false);
      if (!admitted) {
        connection.destroy();
        throw new DatabaseUnavailableError('no_share');
      }
    }
    const pooled: PooledConnection = {
      connection,
      threadId: connection.threadId,
      dead: false,
      closeReason: undefined,
      held: false,
      acquiredAt: 0,
      releasedAt: now(),
      expiresAt: now() + maxLifetimeMs * (1 - lifetimeJitter * random()),
      deadlineAt: 0,
      killed: undefined,
      gone: false,
    };
    // Without an 'error' listener a connection lost while idle would crash the worker.
    const events = connection as unknown as NodeJS.EventEmitter;
    events.on('error', (error: unknown) => {
      pooled.dead = true;
      observer.connectionError(errorCode(error));
      logger.warn({ code: errorCode(error) }, 'database connection lost');
    });
    events.on('end', () => {
      pooled.dead = true;
      pooled.gone = true;
    });
    spec.track(pooled);
    observer.created((now() - started) / 1000);
    return pooled;
  };
}
