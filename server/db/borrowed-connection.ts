import type mysql from 'mysql2/promise';
import { isReadOnlyRefusal, NotSentError } from './db-errors.js';
import type { PooledConnection } from './pooled-connection.js';
import type { StatementFailure } from './retry-rule.js';
import type { StatementOptions } from './statement-deadline.js';
import { mayCommit, statementKind, type StatementKind } from './statement-kind.js';

/** What a caller of `withConnection` may do with the connection: query it, never release or end it. */
export type DbConnection = Pick<mysql.Connection, 'query' | 'execute' | 'beginTransaction' | 'commit' | 'rollback'>;

/** One borrow of a pooled connection by a withConnection function, and what its statements did. */
export interface Borrowing {
  readonly connection: DbConnection;
  /** A transaction was left open: the pool rolls it back before the connection goes home. */
  inTransaction(): boolean;
  /**
   * The failed statement behind the error the function gave up with, for the retry rule: only when it is that
   * statement's own error and nothing but a ROLLBACK was sent after it.
   */
  failureBehind(error: unknown): StatementFailure | undefined;
}

/** The SQL of a query()/execute() call: a string, or the options object's `sql`. */
function sqlOf(first: unknown): string {
  if (typeof first === 'string') return first;
  const sql = first !== null && typeof first === 'object' && 'sql' in first ? first.sql : undefined;
  return typeof sql === 'string' ? sql : '';
}

/**
 * Wraps a pooled connection for a borrower: every statement runs under the statement deadline and the borrower's
 * signal (`run`), and the borrow keeps track of the transaction (open or not), of whether anything that may have
 * committed was sent, and of the last failed statement.
 */
export function borrowConnection(
  pooled: PooledConnection,
  deps: {
    readonly run: <R>(pooled: PooledConnection, send: () => Promise<R>, options: StatementOptions) => Promise<R>;
    readonly signal: AbortSignal | undefined;
    /** Every failed statement's error, as it came from the driver. */
    readonly onFailure: (error: unknown) => void;
  },
): Borrowing {
  const { run, signal } = deps;
  // Set by beginTransaction (or a START TRANSACTION), cleared by commit/rollback: whether a write commits by itself.
  // After an error the pool rolls back whatever the flag says, and a ROLLBACK outside a transaction is harmless.
  let open = false;
  // Whether a statement that may have committed was sent: the function is never run again after one (retry-rule.ts).
  let committed = false;
  let last: StatementFailure | undefined;
  const { connection } = pooled;

  /** Runs one statement of the borrower's, and keeps the bookkeeping in step with what it did. */
  const statement = <R>(kind: StatementKind, send: () => Promise<R>): Promise<R> => {
    const commits = mayCommit(kind, open);
    const before = { kind, inTransaction: open, committedBefore: committed };
    // A ROLLBACK after the failure (a function that cleans up before it rethrows) changes nothing a retry needs.
    if (kind !== 'rollback') last = undefined;
    return run(pooled, send, { mayCommit: commits, signal }).then(
      (result) => {
        if (commits) committed = true;
        if (kind === 'begin') open = true;
        else if (kind === 'commit' || kind === 'rollback' || kind === 'implicit_commit') open = false;
        return result;
      },
      (error: unknown) => {
        deps.onFailure(error);
        // Refused with an answer, or never sent: it committed nothing.
        if (commits && !(error instanceof NotSentError) && !isReadOnlyRefusal(error)) committed = true;
        last = { ...before, error };
        throw error;
      },
    );
  };
  type Statement = (...args: unknown[]) => Promise<unknown>;
  const query = connection.query.bind(connection) as Statement;
  const execute = connection.execute.bind(connection) as Statement;
  return {
    connection: {
      query: ((...args: unknown[]) =>
        statement(statementKind(sqlOf(args[0])), () => query(...args))) as DbConnection['query'],
      execute: ((...args: unknown[]) =>
        statement(statementKind(sqlOf(args[0])), () => execute(...args))) as DbConnection['execute'],
      beginTransaction: () => statement('begin', () => connection.beginTransaction()),
      commit: () => statement('commit', () => connection.commit()),
      rollback: () => statement('rollback', () => connection.rollback()),
    },
    inTransaction: () => open,
    failureBehind: (error) => (last !== undefined && last.error === error ? last : undefined),
  };
}
