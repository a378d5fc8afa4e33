import type { DbConnection, DbPool } from './create-db-pool.js';

/**
 * Runs `fn` in one transaction on one connection and commits it. A failure anywhere rolls it back (withConnection
 * does, and discards a connection it cannot roll back); `signal` as for withConnection.
 */
export function transaction<T>(
  db: DbPool,
  fn: (connection: DbConnection) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  return db.withConnection(async (connection) => {
    await connection.beginTransaction();
    const result = await fn(connection);
    await connection.commit();
    return result;
  }, signal);
}
