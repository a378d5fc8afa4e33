import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { ClaimView } from '../budget/live-shares.js';
import type { ReplicaShape } from '../budget/replica-shape.js';

/*
 * The replica claims table (APP_REPLICAS=auto), spoken to by each replica's coordinator on its one connection.
 *
 * Only a raise of a grant takes the claims lock (the single row of replica_claims_lock): two replicas must not grow
 * into the same room. Everything else is a single-row statement that never waits on another replica: a renewal
 * touches only the replica's own row, a lower grant, a retirement and a deletion only ever make room. So a replica
 * that stalls while it holds the lock (its path froze, its host paused) delays others' growth until MySQL ends its
 * session (the coordination session's wait_timeout), and never their renewals.
 *
 * Registrations: every connection a replica opens registers its thread under its claim (`registerConnection`, a
 * conditional insert that refuses once the claim is retired or gone), so that the threads of a replica that stopped
 * renewing can be killed before its grant is handed to others: a replica cut off from MySQL leaves its threads alive
 * on the server (MySQL never saw a close) until wait_timeout, and those count against max_connections. The
 * registrations live in a MEMORY table, emptied by every server restart, because thread ids start again from 1 then:
 * a registration from before a restart must never get a new owner's thread killed. Each names its server
 * (@@server_id): after a failover the new primary holds the old one's rows, about threads it never had.
 */

/** A claim as read, with what changes at each renewal: its owner is alive while this keeps changing. */
export interface ClaimRow extends Omit<ClaimView, 'expired'> {
  readonly version: string;
  readonly retired: boolean;
}

const quoteId = (name: string) => `\`${name.replace(/`/g, '``')}\``;

const micros = (ms: number) => Math.round(ms * 1000);

/**
 * On a pool connection, as it opens: registers its thread under the claim. False (nothing registered) when the claim
 * is retired, gone or has no grant: the caller must close the connection. `database` qualifies the tables for a
 * connection opened without one.
 */
export async function registerConnection(
  connection: Pick<Connection, 'query'>,
  replicaId: string,
  database?: string,
): Promise<boolean> {
  const prefix = database === undefined ? '' : `${quoteId(database)}.`;
  const [result] = await connection.query<ResultSetHeader>(
    `INSERT INTO ${prefix}replica_connections (server_id, connection_id, replica_id, registered_at)` +
      ` SELECT @@server_id, CONNECTION_ID(), replica_id, UTC_TIMESTAMP(6) FROM ${prefix}replica_claims` +
      ' WHERE replica_id = ? AND granted > 0 AND retired = 0' +
      ' ON DUPLICATE KEY UPDATE replica_id = VALUES(replica_id), registered_at = VALUES(registered_at)',
    [replicaId],
  );
  return result.affectedRows > 0;
}

/** The coordination connection's own registration: it needs no grant (it is how the replica waits for one). */
export async function registerCoordinator(connection: Connection, replicaId: string): Promise<boolean> {
  const [result] = await connection.query<ResultSetHeader>(
    'INSERT INTO replica_connections (server_id, connection_id, replica_id, registered_at)' +
      ' SELECT @@server_id, CONNECTION_ID(), replica_id, UTC_TIMESTAMP(6) FROM replica_claims WHERE replica_id = ? AND retired = 0' +
      ' ON DUPLICATE KEY UPDATE replica_id = VALUES(replica_id), registered_at = VALUES(registered_at)',
    [replicaId],
  );
  return result.affectedRows > 0;
}

/** Announces a replica with no grant yet (the others count it from now on) and registers the coordinator's thread. */
export async function insertClaim(
  connection: Connection,
  replicaId: string,
  shape: ReplicaShape,
  wanted: number,
  leaseMs: number,
): Promise<void> {
  await connection.query(
    'INSERT INTO replica_claims (replica_id, granted, wanted, primary_connections, pools, joined_at, expires_at)' +
      ' VALUES (?, 0, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)',
    [replicaId, wanted, shape.primaryConnections, shape.pools, micros(leaseMs)],
  );
  await registerCoordinator(connection, replicaId);
}

/**
 * Shows the replica alive: its row changes (expires_at only ever moves forward, whatever MySQL's clock does, so every
 * renewal is a change the others see). False when the claim was retired or is gone: the replica must fence itself.
 * expires_at also keeps the lease readable for people and for replicas that judge by MySQL's clock.
 */
export async function renewClaim(connection: Connection, replicaId: string, leaseMs: number): Promise<boolean> {
  const [result] = await connection.query<ResultSetHeader>(
    'UPDATE replica_claims SET expires_at = GREATEST(UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, expires_at + INTERVAL 1 MICROSECOND)' +
      ' WHERE replica_id = ? AND retired = 0',
    [micros(leaseMs), replicaId],
  );
  return result.affectedRows > 0;
}

const claimsSql =
  'SELECT replica_id, seq, granted, wanted, primary_connections, pools, retired,' +
  " CONCAT(DATE_FORMAT(expires_at, '%Y-%m-%d %H:%i:%s.%f'), '/', granted) AS version FROM replica_claims";

export async function readClaims(connection: Pick<Connection, 'query'>): Promise<ClaimRow[]> {
  const [rows] = await connection.query<RowDataPacket[]>(claimsSql);
  return rows.map((row) => ({
    id: String(row['replica_id']),
    seq: Number(row['seq']),
    granted: Number(row['granted']),
    wanted: Number(row['wanted']),
    // Claims written before these columns existed deal in single connections.
    primaryConnections: Number(row['primary_connections']),
    pools: Math.max(1, Number(row['pools'])),
    retired: Number(row['retired']) === 1,
    version: String(row['version']),
  }));
}

/**
 * Raises this replica's grant under the claims lock: `decide` sees the claims as they are while no one else can grow,
 * and returns the grant to publish, or undefined to leave it. Rolls back on any error (a lock wait that timed out
 * included: the next step tries again).
 */
export async function growGrant(
  connection: Connection,
  replicaId: string,
  decide: (claims: readonly ClaimRow[]) => number | undefined,
): Promise<number | undefined> {
  await connection.query('START TRANSACTION');
  try {
    await connection.query('SELECT id FROM replica_claims_lock WHERE id = 1 FOR UPDATE');
    const granted = decide(await readClaims(connection));
    if (granted !== undefined)
      await connection.query('UPDATE replica_claims SET granted = ? WHERE replica_id = ? AND retired = 0', [
        granted,
        replicaId,
      ]);
    await connection.query('COMMIT');
    return granted;
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Publishes a lower grant, once the pools are down to it: it only makes room, so it needs no lock. */
export async function publishGrant(connection: Connection, replicaId: string, granted: number): Promise<void> {
  await connection.query('UPDATE replica_claims SET granted = LEAST(granted, ?) WHERE replica_id = ?', [
    granted,
    replicaId,
  ]);
}

/**
 * Starts retiring claims: from now on none of them registers a thread or renews. Their grants still count until
 * `retireStep` has seen their threads gone.
 */
export async function markRetired(connection: Connection, replicaIds: readonly string[]): Promise<void> {
  if (replicaIds.length === 0) return;
  await connection.query(
    'UPDATE replica_claims SET retired = 1, expires_at = LEAST(expires_at, UTC_TIMESTAMP(6)) WHERE replica_id IN (?)',
    [replicaIds],
  );
}

// ER_NO_SUCH_THREAD: it ended by itself meanwhile, which is what we wanted.
const noSuchThread = 1094;

/**
 * One step of retiring a claim: KILLs the threads still registered under it, or, once MySQL shows none, deletes it
 * (its grant is free from then on). True once deleted.
 */
export async function retireStep(connection: Connection, replicaId: string): Promise<boolean> {
  const [rows] = await connection.query<RowDataPacket[]>(
    'SELECT r.connection_id AS id FROM replica_connections r JOIN information_schema.PROCESSLIST p ON p.ID = r.connection_id' +
      ' WHERE r.replica_id = ? AND r.server_id = @@server_id AND r.connection_id <> CONNECTION_ID()',
    [replicaId],
  );
  if (rows.length === 0) {
    await deleteClaim(connection, replicaId);
    return true;
  }
  for (const row of rows) {
    await connection.query('KILL ?', [Number(row['id'])]).catch((error: { errno?: number }) => {
      if (error.errno !== noSuchThread) throw error;
    });
  }
  return false;
}

/** A clean leave, once this replica's pools are closed (or a retirement, once its threads are gone). */
export async function deleteClaim(connection: Connection, replicaId: string): Promise<void> {
  await connection.query('DELETE FROM replica_claims WHERE replica_id = ?', [replicaId]);
  await connection.query('DELETE FROM replica_connections WHERE replica_id = ?', [replicaId]);
}

/** Drops registrations of threads that have ended (connections close over a replica's lifetime). */
export async function forgetEndedThreads(connection: Connection): Promise<void> {
  await connection.query(
    'DELETE FROM replica_connections WHERE server_id <> @@server_id OR connection_id NOT IN (SELECT ID FROM information_schema.PROCESSLIST)',
  );
}
