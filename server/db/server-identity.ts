import type { Connection, RowDataPacket } from 'mysql2/promise';

/**
 * Which server a connection reached, and whether that server takes writes. `serverId` is MySQL's `@@server_id`, unique
 * within a replication topology (replication refuses two servers with the same id), so after a failover it tells the
 * old primary's connections from the new one's, where thread ids and host names (a cluster endpoint) cannot.
 */
export interface ServerIdentity {
  readonly serverId: number;
  /** `read_only` (a replica, or a demoted primary) or `innodb_read_only` (an Aurora reader): writes are refused. */
  readonly readOnly: boolean;
}

export const identitySql = 'SELECT @@server_id AS serverId, (@@GLOBAL.read_only OR @@innodb_read_only) AS readOnly';

/** The answer to identitySql (for a caller that runs it elsewhere, as the primary's status connection does). */
export function identityFrom(row: RowDataPacket | undefined): ServerIdentity {
  return { serverId: Number(row?.['serverId']), readOnly: Number(row?.['readOnly']) === 1 };
}

export async function readServerIdentity(connection: Pick<Connection, 'query'>): Promise<ServerIdentity> {
  const [[row]] = await connection.query<RowDataPacket[]>(identitySql);
  return identityFrom(row);
}
