import type mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { Pool as TarnPool, TimeoutError } from 'tarn';
import type { DbConnectionOptions } from '../config/config.js';
import { borrowConnection, type DbConnection } from './borrowed-connection.js';
import {
  abortCode,
  DatabaseUnavailableError,
  errorCode,
  isFatalConnectionError,
  isReadOnlyRefusal,
  toUnavailable,
} from './db-errors.js';
import { noopPoolObserver, type PoolObserver } from './pool-observer.js';
import { createConnectionCheck } from './connection-check.js';
import { createConnectionCloser, type CloseHow } from './connection-closer.js';
import { openPooledConnection } from './open-pooled-connection.js';
import { createPoolCeiling, type PoolCeiling } from './pool-ceiling.js';
import type { PooledConnection } from './pooled-connection.js';
import { retryReason, type RetryReason, type StatementFailure } from './retry-rule.js';
import { createStatementDeadline } from './statement-deadline.js';
import { mayCommit, statementKind } from './statement-kind.js';
import { createThreadKiller, type ThreadKiller } from './thread-killer.js';
import { createWritableServer } from './writable-server.js';

/*
 * One pool per worker, created once at start. Built on tarn rather than mysql2's own pool because
 * mysql2's pool has no acquire deadline and cannot cancel a queued waiter (sidorares/node-mysql2 #673),
 * and its acquire/release events miss direct hand-offs, so counters built on them drift. tarn gives an
 * acquire deadline that removes the waiter, returns a connection that arrives after its waiter gave up
 * to the free list, validates a connection before handing it out, and exposes its exact state.
 */

export interface DbPoolOptions {
  readonly connection: DbConnectionOptions;
  /** The worker's share of the connection budget: its pool never opens more. */
  readonly max: number;
  /** Idle connections kept open once they have been idle for `idleTimeoutMs`; more are closed. */
  readonly maxIdle: number;
  readonly acquireTimeoutMs: number;
  /**
   * How long a borrower may hold a connection, its statements together (DB_QUERY_TIMEOUT_MS). A statement still
   * running then fails with `query_timeout`; its connection is destroyed and its server thread killed.
   */
  readonly queryTimeoutMs?: number;
  /**
   * Connections are closed, when next handed out, once older than this less up to 10 % jitter (so they do not all
   * expire at once): after a failover that moves the hostname, the pool follows within this time.
   */
  readonly maxLifetimeMs?: number;
  /** A connection idle this long is pinged (with a short deadline) before it is handed out; fresher ones are not. */
  readonly pingAfterIdleMs?: number;
  readonly idleTimeoutMs: number;
  /** The `db_client_connection_pool_name` label; primaryDatabasePoolName when not given. */
  readonly name?: string;
  /**
   * DB_FOLLOW_PRIMARY (docs/failover.md): keep connections to the server that takes writes only, wait for one within
   * the acquire deadline while there is none, and run again what provably did not happen (retry-rule.ts).
   */
  readonly followPrimary?: boolean;
  /** With followPrimary: how often one hand-out asks its server whether it still takes writes. */
  readonly writableCheckMs?: number;
}

/**
 * The pool of the primary database (the one that takes writes, as against a replica), not of the cluster's primary
 * process: the `db_client_connection_pool_name` label every worker's pool carries.
 */
export const primaryDatabasePoolName = 'primary';

export interface DbPoolDeps {
  readonly logger: Logger;
  readonly observer?: PoolObserver;
  /** Monotonic clock in milliseconds. */
  readonly now?: () => number;
  /** Ends the server threads of abandoned connections; by default a killer on the pool's own server and account. */
  readonly killer?: ThreadKiller;
  /** In [0, 1): the lifetime jitter. */
  readonly random?: () => number;
  /**
   * Runs on every new connection before it joins the pool (APP_REPLICAS=auto registers its thread under the
   * replica's claim). False or a throw: the connection is closed and the acquire fails with 503.
   */
  readonly onConnect?: (connection: mysql.Connection) => Promise<boolean>;
}

export interface PoolState {
  readonly used: number;
  readonly idle: number;
  /** Requests waiting for a connection. */
  readonly pending: number;
  /** Connections being opened right now. */
  readonly creating: number;
  /** The current ceiling: `max` at creation, then whatever setCeiling set. */
  readonly max: number;
  readonly idleMax: number;
}

export type { DbConnection } from './borrowed-connection.js';

export interface DbPool {
  readonly name: string;
  /**
   * Runs one statement on a pooled connection. Unavailability surfaces as DatabaseUnavailableError; a write cut off
   * after it was sent (its deadline, `signal`, a lost connection) as OutcomeUnknownError. `signal` (the request's
   * deadline, as Go's ctx): aborted, the wait for a connection ends, the running statement is abandoned (connection
   * destroyed, server thread killed) and nothing more is sent.
   */
  execute<T extends mysql.RowDataPacket[] | mysql.ResultSetHeader>(
    sql: string,
    params?: unknown[],
    signal?: AbortSignal,
  ): Promise<T>;
  /**
   * Holds one connection for the duration of `fn` (e.g. a transaction), then returns it to the pool, rolled back
   * unless committed. `signal` as for execute: once aborted every statement of `fn` is refused, and a transaction
   * left open is rolled back (or, with a statement running, its thread killed), so it can never commit.
   */
  withConnection<T>(fn: (connection: DbConnection) => Promise<T>, signal?: AbortSignal): Promise<T>;
  state(): PoolState;
  /**
   * Changes the ceiling live. Lowering it closes idle connections above it at once and destroys used ones as they
   * come home (never failing the request that holds them); at 0 every acquire fails at once with 503.
   */
  setCeiling(ceiling: number): void;
  /** The current ceiling (state().max), without counting connections: read once per request. */
  ceiling(): number;
  /** Connections whose server thread may still exist: open (used, idle) or being opened. */
  liveConnections(): number;
  /** Waits for held connections to come back, then closes every connection. Idempotent. */
  end(): Promise<void>;
}

// Defaults that are the product's own, not the deployment's (those live in config).
const defaultQueryTimeoutMs = 5000;
const defaultMaxLifetimeMs = 30 * 60_000;
const defaultPingAfterIdleMs = 30_000;
// How long the server has to close a connection after COM_QUIT before it is abandoned (and its thread killed).
const quitTimeoutMs = 1000;
const defaultWritableCheckMs = 1000;

export function createDbPool(options: DbPoolOptions, deps: DbPoolDeps): DbPool {
  const name = options.name ?? primaryDatabasePoolName;
  const observer = deps.observer ?? noopPoolObserver;
  const now = deps.now ?? (() => performance.now());
  const logger = deps.logger.child({ pool: name });
  // Against the live ceiling, not the one the pool was made with: a worker forked at 0 keeps idle ones once raised.
  const idleMax = options.maxIdle;
  const queryTimeoutMs = options.queryTimeoutMs ?? defaultQueryTimeoutMs;
  const maxLifetimeMs = options.maxLifetimeMs ?? defaultMaxLifetimeMs;
  const pingAfterIdleMs = options.pingAfterIdleMs ?? defaultPingAfterIdleMs;
  const random = deps.random ?? Math.random;
  const killTimeoutMs = Math.max(1000, options.acquireTimeoutMs);
  const killer =
    deps.killer ?? createThreadKiller({ connection: options.connection, timeoutMs: killTimeoutMs }, { logger });
  // The longest a close may take: COM_QUIT unanswered, then the kill.
  const closeTimeoutMs = quitTimeoutMs + killTimeoutMs + 1000;
  const closer = createConnectionCloser({ quitTimeoutMs }, { killer, logger });
  let ending: Promise<void> | undefined;
  // Set once the ceiling exists (it holds the bookkeeping close reports to); nothing closes before that.
  let ceiling: PoolCeiling;

  /** The pool's one way to close a connection: it counts until its server thread is gone (connection-closer.ts). */
  function close(pooled: PooledConnection, how: CloseHow): Promise<void> {
    pooled.closing ??= closer.close(pooled.connection, how, pooled.serverId).finally(() => ceiling.closed(pooled));
    return pooled.closing;
  }
  // DB_FOLLOW_PRIMARY: which server takes writes; connections to any other leave (idle ones now, busy ones on return).
  const writable = options.followPrimary
    ? createWritableServer(
        { checkIntervalMs: options.writableCheckMs ?? defaultWritableCheckMs },
        {
          now,
          onStale: () => {
            for (const pooled of ceiling.all) if (!pooled.held) leaveIfStale(pooled);
          },
          onChange: (to, from) => {
            if (from !== undefined) logger.warn({ from, to }, 'another server takes writes now: following it');
          },
        },
      )
    : undefined;
  /** A connection to a server that no longer takes writes is closed (COM_QUIT: its server still answers). */
  function leaveIfStale(pooled: PooledConnection): boolean {
    if (pooled.dead || pooled.closing || !writable?.isStale(pooled.serverId)) return false;
    pooled.dead = true;
    pooled.closeReason ??= 'stale_server';
    void close(pooled, 'quit');
    return true;
  }
  const validate = createConnectionCheck({ pingAfterIdleMs }, { now, logger, writable });
  const { run } = createStatementDeadline({ close, observer, logger, now });

  const tarn = new TarnPool<PooledConnection>({
    min: Math.min(idleMax, Math.max(1, options.max)),
    // tarn wants max ≥ 1 at construction; a ceiling of 0 is enforced in acquire().
    max: Math.max(1, options.max),
    acquireTimeoutMillis: options.acquireTimeoutMs,
    // A create bounds itself (openPooledConnection: room, connect and admission within the acquire deadline, then
    // the kill of a connection it gave up on). tarn's own create timeout would forget a create that is still under
    // way and start another beside it, so it only backs ours up.
    createTimeoutMillis: options.acquireTimeoutMs + closeTimeoutMs,
    destroyTimeoutMillis: closeTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs,
    reapIntervalMillis: Math.min(1000, Math.max(50, Math.floor(options.idleTimeoutMs / 2))),
    createRetryIntervalMillis: 100,
    // Fail the first waiter with the real cause (e.g. ECONNREFUSED) instead of making it wait out the deadline.
    propagateCreateError: true,
    create: openPooledConnection({
      connection: options.connection,
      connectTimeoutMs: options.acquireTimeoutMs,
      maxLifetimeMs,
      onConnect: deps.onConnect,
      observer,
      logger,
      now,
      random,
      threads: { reserve: (deadlineAt) => ceiling.reserve(deadlineAt), opened: (pooled) => ceiling.opened(pooled) },
      close,
      writable,
    }),
    // tarn awaits a validation that returns a promise (its _validateResource wraps it), though its types say boolean.
    validate: validate as (pooled: PooledConnection) => boolean,
    destroy: (pooled) => {
      observer.closed(pooled.closeReason ?? (pooled.dead ? 'error' : ending ? 'shutdown' : 'idle_timeout'));
      return close(pooled, pooled.dead ? 'abandon' : 'quit');
    },
  });
  ceiling = createPoolCeiling(options.max, { tarn, idleMax, now, close });

  async function acquire(signal: AbortSignal | undefined): Promise<PooledConnection> {
    if (signal?.aborted) throw new DatabaseUnavailableError(abortCode(signal));
    if (ending) throw new DatabaseUnavailableError('pool_closed');
    // No share of the budget (a replica fenced or not yet granted): waiting out the acquire deadline cannot help.
    if (ceiling.current() < 1) throw new DatabaseUnavailableError('no_share');
    const started = now();
    const pending = tarn.acquire();
    // tarn removes an aborted waiter from its queue; a connection handed over in the same turn is given back below.
    const abort = () => pending.abort();
    signal?.addEventListener('abort', abort, { once: true });
    let pooled: PooledConnection;
    try {
      pooled = await pending.promise;
    } catch (error) {
      const reason = signal?.aborted ? 'aborted' : error instanceof TimeoutError ? 'timeout' : 'error';
      observer.acquireFailed((now() - started) / 1000, reason);
      const code = signal?.aborted ? abortCode(signal) : reason === 'timeout' ? 'acquire_timeout' : errorCode(error);
      throw new DatabaseUnavailableError(code, { cause: error });
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    if (signal?.aborted) {
      tarn.release(pooled);
      observer.acquireFailed((now() - started) / 1000, 'aborted');
      throw new DatabaseUnavailableError(abortCode(signal));
    }
    pooled.held = true;
    pooled.acquiredAt = now();
    pooled.deadlineAt = pooled.acquiredAt + queryTimeoutMs;
    observer.acquired((pooled.acquiredAt - started) / 1000);
    return pooled;
  }

  function release(pooled: PooledConnection): void {
    observer.released((now() - pooled.acquiredAt) / 1000);
    // An abandoned connection keeps its slot until its server thread is gone: until then MySQL still counts it,
    // and a replacement opened at once would take the pools past their share of the budget.
    const giveBack = () => {
      pooled.held = false;
      pooled.releasedAt = now();
      if (ceiling.shouldRetire(pooled)) ceiling.retire(pooled);
      else leaveIfStale(pooled);
      tarn.release(pooled);
    };
    if (pooled.closing) void pooled.closing.then(giveBack);
    else giveBack();
  }

  async function withConnection<T>(fn: (connection: DbConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const pooled = await acquire(signal);
      const borrowing = borrowConnection(pooled, { run, signal, onFailure: (error) => refused(pooled, error) });
      let failure: unknown;
      try {
        return await fn(borrowing.connection);
      } catch (error) {
        const behind = attempt === 1 ? borrowing.failureBehind(error) : undefined;
        const reason = behind && retryable(behind, signal);
        failure = failed(pooled, error);
        if (reason === undefined) throw failure;
        observer.retried(reason);
      } finally {
        if ((failure !== undefined || borrowing.inTransaction()) && !pooled.dead) await rollBack(pooled);
        release(pooled);
      }
    }
  }

  /** DB_FOLLOW_PRIMARY: why a failed statement may run again (retry-rule.ts), unless the request gave up already. */
  function retryable(failure: StatementFailure, signal: AbortSignal | undefined): RetryReason | undefined {
    return writable && !signal?.aborted ? retryReason(failure) : undefined;
  }

  /** A statement refused as read-only: its server no longer takes writes, and its connections leave. */
  function refused(pooled: PooledConnection, error: unknown): void {
    if (!isReadOnlyRefusal(error)) return;
    observer.readOnlyRefused('statement');
    if (!writable || pooled.serverId === undefined) return;
    pooled.closeReason = 'read_only';
    writable.demote(pooled.serverId);
  }

  /** A connection never goes back to the pool inside a transaction: its locks and writes would pass to the next borrower. */
  async function rollBack(pooled: PooledConnection): Promise<void> {
    try {
      // Never under the borrower's signal: after an abort this is what keeps its transaction from committing.
      await run(pooled, () => pooled.connection.query('ROLLBACK'), { mayCommit: false });
    } catch (error) {
      // Cannot tell what state it is in: never reuse it.
      pooled.dead = true;
      logger.warn({ code: errorCode(error) }, 'rollback before release failed; discarding the connection');
    }
  }

  function failed(pooled: PooledConnection, error: unknown): unknown {
    if (isFatalConnectionError(error)) pooled.dead = true;
    return toUnavailable(error);
  }

  return {
    name,
    withConnection,
    // withConnection spelled out: one statement per request is the hot path, and a closure and an await less count.
    async execute<T extends mysql.RowDataPacket[] | mysql.ResultSetHeader>(
      sql: string,
      params: unknown[] = [],
      signal?: AbortSignal,
    ) {
      const kind = statementKind(sql);
      for (let attempt = 1; ; attempt++) {
        const pooled = await acquire(signal);
        try {
          const [result] = await run(pooled, () => pooled.connection.execute<T>(sql, params as never), {
            mayCommit: mayCommit(kind, false),
            signal,
          });
          return result;
        } catch (error) {
          refused(pooled, error);
          const reason =
            attempt === 1
              ? retryable({ error, kind, inTransaction: false, committedBefore: false }, signal)
              : undefined;
          const failure = failed(pooled, error);
          if (reason === undefined) throw failure;
          observer.retried(reason);
        } finally {
          release(pooled);
        }
      }
    },
    state() {
      // A broken connection waiting in the free list to be discarded is neither used nor idle.
      let brokenIdle = 0;
      for (const pooled of ceiling.all) if (pooled.dead && !pooled.held) brokenIdle++;
      return {
        used: tarn.numUsed(),
        idle: tarn.numFree() - brokenIdle,
        pending: tarn.numPendingAcquires(),
        creating: tarn.numPendingCreates(),
        max: ceiling.current(),
        idleMax: Math.min(idleMax, ceiling.current()),
      };
    },
    setCeiling: ceiling.set,
    ceiling: ceiling.current,
    liveConnections: ceiling.live,
    end() {
      ending ??= tarn.destroy().then(() => undefined);
      return ending;
    },
  };
}
