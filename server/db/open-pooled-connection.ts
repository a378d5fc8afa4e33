import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { preparedStatementsPerConnection } from '../budget/server-limits.js';
import type { DbConnectionOptions } from '../config/config.js';
import { withDeadline } from '../deadline/with-deadline.js';
import { DatabaseUnavailableError, errorCode } from './db-errors.js';
import type { PoolCeiling } from './pool-ceiling.js';
import type { PoolObserver } from './pool-observer.js';
import type { PooledConnection } from './pooled-connection.js';
import { readServerIdentity } from './server-identity.js';

/** A connection's lifetime is shortened by up to this share, so connections opened together do not expire together. */
const lifetimeJitter = 0.1;

export interface OpenPooledConnectionSpec {
  readonly connection: DbConnectionOptions;
  /** Connecting and admitting together (the pool waits for room first, within the same deadline). */
  readonly connectTimeoutMs: number;
  readonly maxLifetimeMs: number;
  /** Admits a new connection (APP_REPLICAS=auto registers it under the replica's claim); false closes it again. */
  readonly onConnect?: ((connection: mysql.Connection) => Promise<boolean>) | undefined;
  readonly observer: PoolObserver;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  /**
   * The pool's count of server threads (pool-ceiling.ts): a create reserves room under the ceiling before it
   * connects, and the connection counts from the moment it exists, admitted or not, until its close has settled.
   */
  readonly threads: Pick<PoolCeiling, 'reserve' | 'opened'>;
  /** The one way the pool closes a connection (connection-closer.ts through the pool's bookkeeping). */
  readonly close: (pooled: PooledConnection, how: 'abandon') => Promise<void>;
}

/**
 * The pool's `create`: waits for room under the ceiling, opens one MySQL connection with the session settings the
 * service relies on, learns its server (server-identity.ts: its thread is killed on that server only), admits it, and
 * wraps it. Every step is inside one deadline; a connection that cannot be admitted
 * in time is abandoned (its server thread killed) before the create fails, so tarn never starts a replacement while
 * the server still holds it.
 */
export function openPooledConnection(spec: OpenPooledConnectionSpec): () => Promise<PooledConnection> {
  const { observer, logger, now, random, maxLifetimeMs, threads } = spec;
  return async () => {
    const started = now();
    const deadlineAt = started + spec.connectTimeoutMs;
    const release = await threads.reserve(deadlineAt);
    let connection: mysql.Connection;
    try {
      connection = await mysql.createConnection({
        ...spec.connection,
        connectTimeout: Math.max(1, Math.round(deadlineAt - now())),
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
      release();
      observer.connectionError(errorCode(error));
      throw error;
    }
    const pooled: PooledConnection = {
      connection,
      threadId: connection.threadId,
      serverId: undefined,
      dead: false,
      closeReason: undefined,
      held: false,
      acquiredAt: 0,
      releasedAt: now(),
      expiresAt: now() + maxLifetimeMs * (1 - lifetimeJitter * random()),
      deadlineAt: 0,
      closing: undefined,
    };
    threads.opened(pooled);
    release();
    // Without an 'error' listener a connection lost while idle would crash the worker.
    (connection as unknown as NodeJS.EventEmitter).on('error', (error: unknown) => {
      pooled.dead = true;
      observer.connectionError(errorCode(error));
      logger.warn({ code: errorCode(error) }, 'database connection lost');
    });
    try {
      pooled.serverId = (
        await withDeadline(deadlineAt - now(), () => readServerIdentity(connection), {
          what: "reading a new connection's server",
        })
      ).serverId;
    } catch (error) {
      pooled.dead = true;
      await spec.close(pooled, 'abandon');
      throw error;
    }
    const { onConnect } = spec;
    if (onConnect) {
      const admitted = await withDeadline(deadlineAt - now(), () => onConnect(connection), {
        what: 'admitting a new connection',
      }).catch(() => false);
      if (!admitted) {
        pooled.dead = true;
        pooled.closeReason = 'not_admitted';
        await spec.close(pooled, 'abandon');
        throw new DatabaseUnavailableError('no_share');
      }
    }
    observer.created((now() - started) / 1000);
    return pooled;
  };
}
