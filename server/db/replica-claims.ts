import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ClaimView } from '../budget/live-shares.js';

/*
 * The replica claims table, spoken to on one connection (the coordinator's). Every grant change runs in a
 * transaction that first locks the single row of replica_claims_lock, so Σ granted is read and changed by one replica
 * at a time; leases are on MySQL's clock (UTC_TIMESTAMP(6)).
 *
 * Fencing: a replica's threads are registered under its claim when they open (`registerSql`, a conditional insert
 * that refuses once the claim is expired or gone). A claim is retired in three steps: expire it and list its threads
 * under the row lock (no registration can slip in after that), KILL them and wait until MySQL shows them gone, then
 * delete the rows. Only then is its grant free for others: a replica cut off from MySQL may keep server threads
 * alive for hours (its path froze, MySQL never saw a close), and those count against max_connections.
 */

/**
 * On a pool or status connection, as it opens: registers its thread under the claim. False (nothing registered) when
 * the claim is gone, expired or has no grant: the caller must close the connection. `database` qualifies the tables
 * for a connection opened without one (the status reader's).
 */
export async function registerConnection(
  connection: Pick<Connection, 'query'>,
  replicaId: string,
  database?: string,
): Promise<boolean> {
  const prefix = database === undefined ? '' : `${quoteId(database)}.`;
  const [result] = await connection.query<ResultSetHeader>(
    `INSERT INTO ${prefix}replica_connections (connection_id, replica_id, registered_at)` +
      ` SELECT CONNECTION_ID(), replica_id, UTC_TIMESTAMP(6) FROM ${prefix}replica_claims` +
      ' WHERE replica_id = ? AND granted > 0 AND expires_at > UTC_TIMESTAMP(6)' +
      ' ON DUPLICATE KEY UPDATE replica_id = VALUES(replica_id), registered_at = VALUES(registered_at)',
    [replicaId],
  );
  return result.affectedRows > 0;
}

const quoteId = (name: string) => `\`${name.replace(/`/g, '``')}\``;

const micros = (ms: number) => Math.round(ms * 1000);

/** Runs `fn` inside a transaction that holds the claims lock; rolls back on any error. */
export async function withClaimsLock<T>(connection: Connection, fn: (claims: ClaimView[]) => Promise<T>): Promise<T> {
  await connection.query('START TRANSACTION');
  try {
    await connection.query('SELECT id FROM replica_claims_lock WHERE id = 1 FOR UPDATE');
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT replica_id, granted, wanted, expires_at <= UTC_TIMESTAMP(6) AS expired FROM replica_claims FOR UPDATE',
    );
    const claims = rows.map((row) => ({
      id: String(row['replica_id']),
      granted: Number(row['granted']),
      wanted: Number(row['wanted']),
      expired: Number(row['expired']) === 1,
    }));
    const result = await fn(claims);
    await connection.query('COMMIT');
    return result;
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * Announces a replica with no grant yet (the others count it from now on and shrink to make room) and registers the
 * coordinator's own thread under it. Call inside withClaimsLock.
 */
export async function insertClaim(
  connection: Connection,
  replicaId: string,
  wanted: number,
  leaseMs: number,
): Promise<void> {
  await connection.query(
    'INSERT INTO replica_claims (replica_id, granted, wanted, joined_at, expires_at) VALUES (?, 0, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)',
    [replicaId, wanted, micros(leaseMs)],
  );
  await connection.query(
    'INSERT INTO replica_connections (connection_id, replica_id, registered_at) VALUES (CONNECTION_ID(), ?, UTC_TIMESTAMP(6))' +
      ' ON DUPLICATE KEY UPDATE replica_id = VALUES(replica_id), registered_at = VALUES(registered_at)',
    [replicaId],
  );
}

/** Extends a live lease; false when it had already expired or was retired (the replica must fence itself). */
export async function renewClaim(connection: Connection, replicaId: string, leaseMs: number): Promise<boolean> {
  const [result] = await connection.query<ResultSetHeader>(
    'UPDATE replica_claims SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE replica_id = ? AND expires_at > UTC_TIMESTAMP(6)',
    [micros(leaseMs), replicaId],
  );
  return result.affectedRows > 0;
}

export async function publishGrant(connection: Connection, replicaId: string, granted: number): Promise<void> {
  await connection.query('UPDATE replica_claims SET granted = ? WHERE replica_id = ?', [granted, replicaId]);
}

/**
 * Retires a claim (an expired one, or this replica's own old one): expires it, kills its registered threads, waits
 * until MySQL no longer shows them, then deletes it. False if its threads did not go within `waitMs` (the claim
 * stays, its grant still counted; the next attempt tries again).
 */
export async function retireClaim(connection: Connection, replicaId: string, waitMs: number): Promise<boolean> {
  const threads = await withClaimsLock(connection, async () => {
    await connection.query(
      'UPDATE replica_claims SET expires_at = LEAST(expires_at, UTC_TIMESTAMP(6)) WHERE replica_id = ?',
      [replicaId],
    );
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT r.connection_id AS id FROM replica_connections r JOIN information_schema.PROCESSLIST p ON p.ID = r.connection_id' +
        ' WHERE r.replica_id = ? AND r.connection_id <> CONNECTION_ID() FOR UPDATE',
      [replicaId],
    );
    return rows.map((row) => Number(row['id']));
  });
  for (const id of threads) {
    // ER_NO_SUCH_THREAD (1094): it ended by itself meanwhile.
    await connection.query('KILL ?', [id]).catch((error: { errno?: number }) => {
      if (error.errno !== 1094) throw error;
    });
  }
  if (!(await threadsGone(connection, threads, waitMs))) return false;
  await withClaimsLock(connection, async () => {
    await connection.query('DELETE FROM replica_claims WHERE replica_id = ?', [replicaId]);
    await connection.query('DELETE FROM replica_connections WHERE replica_id = ?', [replicaId]);
  });
  return true;
}

/** A clean leave, once this replica's pools are closed: its grant is free at once. */
export async function deleteClaim(connection: Connection, replicaId: string): Promise<void> {
  await withClaimsLock(connection, async () => {
    await connection.query('DELETE FROM replica_claims WHERE replica_id = ?', [replicaId]);
    await connection.query('DELETE FROM replica_connections WHERE replica_id = ?', [replicaId]);
  });
}

/**
 * Forgets registrations older than the server's boot (with a second's margin for the rounding of Uptime): thread
 * ids restart after a MySQL restart, and a stale row must never get a new owner's thread killed.
 */
export async function forgetRegistrationsBeforeBoot(connection: Connection): Promise<void> {
  await connection.query(
    "DELETE FROM replica_connections WHERE registered_at < UTC_TIMESTAMP(6) - INTERVAL (SELECT VARIABLE_VALUE + 1 FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') SECOND",
  );
}

/** Drops this replica's registrations of threads that have ended (connections close over its lifetime). */
export async function forgetEndedThreads(connection: Connection, replicaId: string): Promise<void> {
  await connection.query(
    'DELETE FROM replica_connections WHERE replica_id = ? AND connection_id NOT IN (SELECT ID FROM information_schema.PROCESSLIST)',
    [replicaId],
  );
}

async function threadsGone(connection: Connection, threads: readonly number[], waitMs: number): Promise<boolean> {
  if (threads.length === 0) return true;
  for (const giveUpAt = Date.now() + waitMs; ; await sleep(50)) {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID IN (?)',
      [threads],
    );
    if (Number(rows[0]?.['n']) === 0) return true;
    if (Date.now() >= giveUpAt) return false;
  }
}
