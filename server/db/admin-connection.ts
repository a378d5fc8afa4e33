import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { DbConnectionOptions } from '../config/config.js';
import type { ServerLimits } from '../budget/server-limits.js';

/**
 * Opens the primary's single connection, creating the application database first if it is missing
 * (the login needs the CREATE privilege for that; an existing database needs nothing extra).
 */
export async function openAdminConnection(options: DbConnectionOptions, connectTimeoutMs: number): Promise<Connection> {
  const { database, ...server } = options;
  const connection = await mysql.createConnection({ ...server, connectTimeout: connectTimeoutMs, timezone: 'Z' });
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS ${connection.escapeId(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    await connection.query(`USE ${connection.escapeId(database)}`);
    return connection;
  } catch (error) {
    connection.destroy();
    throw error;
  }
}

export const limitsSql =
  'SELECT @@GLOBAL.max_connections AS maxConnections, @@GLOBAL.max_user_connections AS maxUserConnections,' +
  ' @@SESSION.max_user_connections AS accountMaxUserConnections, @@GLOBAL.max_prepared_stmt_count AS maxPreparedStatements';

/** The answer to limitsSql (for a caller that runs it elsewhere, as the primary's status connection does). */
export function limitsFrom(row: RowDataPacket | undefined): ServerLimits {
  return {
    maxConnections: Number(row?.['maxConnections']),
    maxUserConnections: Number(row?.['maxUserConnections']),
    accountMaxUserConnections: Number(row?.['accountMaxUserConnections']),
    maxPreparedStatements: Number(row?.['maxPreparedStatements']),
  };
}

export async function readServerLimits(connection: Pick<Connection, 'query'>): Promise<ServerLimits> {
  const [[row]] = await connection.query<RowDataPacket[]>(limitsSql);
  return limitsFrom(row);
}
