import { errorCode, isConnectionLost, isReadOnlyRefusal, NotSentError } from './db-errors.js';
import { mayCommit, type StatementKind } from './statement-kind.js';

/*
 * THE rule for running a statement again (docs/failover.md, docs/answers-and-retries.md): only what provably did not
 * happen, once, on a fresh connection, within the request's deadline. The pool asks here; nothing else retries.
 *
 * - `read_only`: the server refused the write as read-only (1290, 1792, 1836): refused with an answer, nothing
 *   written. The old primary after a switchover, or a replica the endpoint still pointed at.
 * - `not_sent`: the connection was found closed before the statement was written to it.
 * - `read_lost`: a read outside a transaction whose connection was lost: reading again changes nothing.
 * - `transaction_lost`: a statement of a transaction (its BEGIN, a read or a write before its COMMIT) whose connection
 *   was lost: a transaction is rolled back when its session ends (by the server, or by the KILL the pool sends), so
 *   it never committed. (The service's tables are InnoDB: statement-kind.ts counts a write inside a transaction as
 *   committing nothing by itself.)
 *
 * In each case nothing the attempt sent before may have committed (`committedBefore`): with withConnection the whole
 * function runs again, so it must not repeat a write that may have taken effect. Writes inside a transaction that the
 * refusal (or the closed connection) interrupted are not: the transaction is rolled back, by withConnection or by the
 * server when the connection ends, and never committed. A write whose connection was lost after it was sent may have
 * committed: never retried here, it is answered 504 `outcome_unknown` and the client's retry with its
 * Idempotency-Key finds out.
 */

export const retryReasons = ['read_only', 'not_sent', 'read_lost', 'transaction_lost'] as const;

export type RetryReason = (typeof retryReasons)[number];

export interface StatementFailure {
  readonly error: unknown;
  readonly kind: StatementKind;
  /** Inside an explicit transaction when it was sent. */
  readonly inTransaction: boolean;
  /**
   * A statement that may have committed (an autocommit write, a COMMIT, an implicit commit: statement-kind.ts's
   * mayCommit) was sent earlier by this attempt.
   */
  readonly committedBefore: boolean;
}

export function retryReason(failure: StatementFailure): RetryReason | undefined {
  if (failure.committedBefore) return undefined;
  if (failure.error instanceof NotSentError) return 'not_sent';
  if (isReadOnlyRefusal(failure.error)) return 'read_only';
  // Lost under a statement that could not commit anything: never under a COMMIT or an autocommit write (504).
  if (!isConnectionLost(failure.error) || mayCommit(failure.kind, failure.inTransaction)) return undefined;
  return failure.kind === 'read' && !failure.inTransaction ? 'read_lost' : 'transaction_lost';
}

/*
 * While no server behind DATABASE_URL takes writes (none answers, or the one that answers is read-only), a new
 * connection is tried again until the acquire deadline, so a request waits for the new primary instead of failing at
 * once: one attempt per pool every `connectRetryMs` (connect-gate.ts), so the new primary is found that soon after it
 * becomes reachable. Only for what a failover looks like from here; what waiting cannot mend (a wrong
 * password, an unknown database) and what more attempts would make worse (Too many connections) fail at once.
 */
export const connectRetryMs = 25;

/** The code of a new connection not kept because its server refuses writes. */
export const serverReadOnlyCode = 'server_read_only';

const noServerYet = new Set([
  serverReadOnlyCode,
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
]);

export function waitsForServer(error: unknown): boolean {
  return noServerYet.has(errorCode(error));
}
