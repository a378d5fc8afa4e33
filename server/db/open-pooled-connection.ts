import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { preparedStatementsPerConnection } from '../budget/server-limits.js';
import type { DbConnectionOptions } from '../config/config.js';
import { withDeadline } from '../deadline/with-deadline.js';
import { DatabaseUnavailableError, errorCode } from './db-errors.js';
import type { PoolCeiling } from './pool-ceiling.js';
import type { PoolObserver } from './pool-observer.js';
import { createConnectGate } from './connect-gate.js';
import type { CloseHow } from './connection-closer.js';
import type { PooledConnection } from './pooled-connection.js';
import { connectRetryMs, serverReadOnlyCode, waitsForServer } from './retry-rule.js';
import { readServerIdentity, type ServerIdentity } from './server-identity.js';
import type { WritableServer } from './writable-server.js';

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
  readonly close: (pooled: PooledConnection, how: CloseHow) => Promise<void>;
  /** DB_FOLLOW_PRIMARY: the server that takes writes (writable-server.ts); connections to others are not kept. */
  readonly writable?: WritableServer | undefined;
}

/**
 * The pool's `create`: waits for room under the ceiling, opens one MySQL connection with the session settings the
 * service relies on, learns its server (server-identity.ts), admits it, and wraps it. Every step is inside one
 * deadline; a connection that cannot be admitted in time is abandoned (its server thread killed) before the create
 * fails, so tarn never starts a replacement while the server still holds it.
 *
 * With `writable` (DB_FOLLOW_PRIMARY), a connection to a server that refuses writes is closed again, and while no
 * server behind DATABASE_URL takes writes the create tries again until its deadline (retry-rule.ts), its attempts
 * paced with the pool's others (connect-gate.ts): the request waits for the new primary, and gets its 503 at the
 * acquire deadline if none comes.
 */
export function openPooledConnection(spec: OpenPooledConnectionSpec): () => Promise<PooledConnection> {
  const { observer, logger, now, random, maxLifetimeMs, threads, writable } = spec;
  // A bound that holds even on a clock that does not move (tests inject one).
  const maxAttempts = Math.ceil(spec.connectTimeoutMs / connectRetryMs) + 1;

  /** One connection attempt, counted under the create's reservation until it is kept (then `opened`). */
  async function attempt(deadlineAt: number, started: number, release: () => void): Promise<PooledConnection> {
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
    // Without an 'error' listener a connection lost while idle would crash the worker.
    (connection as unknown as NodeJS.EventEmitter).on('error', (error: unknown) => {
      pooled.dead = true;
      observer.connectionError(errorCode(error));
      logger.warn({ code: errorCode(error) }, 'database connection lost');
    });
    let identity: ServerIdentity;
    try {
      identity = await withDeadline(deadlineAt - now(), () => readServerIdentity(connection), {
        what: "reading a new connection's server",
      });
    } catch (error) {
      pooled.dead = true;
      await spec.close(pooled, 'abandon');
      throw error;
    }
    pooled.serverId = identity.serverId;
    if (writable && !writable.admit(identity)) {
      observer.readOnlyRefused('connection');
      pooled.closeReason = 'read_only';
      await spec.close(pooled, 'quit');
      throw new DatabaseUnavailableError(serverReadOnlyCode);
    }
    threads.opened(pooled);
    release();
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
  }

  // One per pool: paces the attempts while no server takes writes (connect-gate.ts).
  const gate = writable && createConnectGate({ intervalMs: connectRetryMs }, { now });

  return async () => {
    const started = now();
    const deadlineAt = started + spec.connectTimeoutMs;
    const release = await threads.reserve(deadlineAt);
    try {
      for (let attempts = 1; ; attempts++) {
        // A turn that would come within the last interval is not waited for: the create fails just before the
        // acquire deadline, with the last attempt's error (ECONNREFUSED, server_read_only...) as the 503's cause.
        const over = await gate?.turn(deadlineAt - connectRetryMs);
        try {
          const pooled = await attempt(deadlineAt, started, release);
          over?.(true);
          return pooled;
        } catch (error) {
          const noServer = writable !== undefined && waitsForServer(error);
          over?.(noServer ? false : undefined, error);
          if (!noServer || attempts >= maxAttempts || now() >= deadlineAt) throw error;
        }
      }
    } finally {
      // Idempotent: a kept connection counts as opened already; a failed create gives its room back.
      release();
    }
  };
}
