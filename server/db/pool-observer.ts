import type { RetryReason } from './retry-rule.js';

/**
 * What the pool reports as it works. The metrics layer implements this; the pool knows nothing of
 * Prometheus. Durations are in seconds.
 */
export type CloseReason =
  | 'idle_timeout'
  | 'error'
  | 'shutdown'
  | 'query_timeout'
  /** Its borrower gave up (the request's deadline) while a statement ran: destroyed, its server thread killed. */
  | 'aborted'
  | 'max_lifetime'
  | 'failed_ping'
  | 'ceiling'
  /** Opened but not admitted in time (APP_REPLICAS=auto: not registered under the replica's claim). */
  | 'not_admitted'
  /** Its server refused a write as read-only, or a check found it read-only: it no longer takes writes. */
  | 'read_only'
  /** Its server is not the one that takes writes any more: another server does (a failover). */
  | 'stale_server';

export interface PoolObserver {
  /** A waiter got a connection after `waitSeconds`. */
  acquired(waitSeconds: number): void;
  /** A waiter gave up at the deadline, its caller gave up (`aborted`), or creating the connection it waited for failed. */
  acquireFailed(waitSeconds: number, reason: 'timeout' | 'aborted' | 'error'): void;
  /** A connection went back to the pool after being held for `useSeconds`. */
  released(useSeconds: number): void;
  /** A new connection was established in `seconds`. */
  created(seconds: number): void;
  /** The driver reported an error (connect failure, lost connection, refused by the server...). */
  connectionError(code: string): void;
  closed(reason: CloseReason): void;
  /** A borrower's statement outlived the statement deadline (DB_QUERY_TIMEOUT_MS). */
  statementTimedOut(): void;
  /** A statement (or a withConnection function) ran again, once, on a fresh connection: retry-rule.ts says why. */
  retried(reason: RetryReason): void;
  /**
   * A server refused writes as read-only: `statement`, a statement refused (1290, 1792, 1836); `connection`, a new
   * connection not kept because its server reported read_only.
   */
  readOnlyRefused(where: 'statement' | 'connection'): void;
}

export const noopPoolObserver: PoolObserver = Object.freeze({
  acquired() {},
  acquireFailed() {},
  released() {},
  created() {},
  connectionError() {},
  closed() {},
  statementTimedOut() {},
  retried() {},
  readOnlyRefused() {},
});
