import type { Connection, RowDataPacket } from 'mysql2/promise';
import pino from 'pino';
import type { DbConnectionOptions } from '../server/config/config.js';
import { parseDatabaseUrl } from '../server/config/database-url.js';
import { openAdminConnection } from '../server/db/admin-connection.js';
import { runMigrations } from '../server/db/run-migrations.js';

/** The machine's MariaDB (CI starts it); override with TEST_DATABASE_URL. Each suite uses its own database. */
export function testConnection(database: string): DbConnectionOptions {
  const base = parseDatabaseUrl(process.env['TEST_DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306/test');
  return { ...base, database };
}

export function testDatabaseUrl(database: string): string {
  const c = testConnection(database);
  const auth = c.password
    ? `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`
    : encodeURIComponent(c.user);
  return `mysql://${auth}@${c.host}:${c.port}/${database}`;
}

export const silentLogger = pino({ level: 'silent' });

/** Drops and recreates `database`, migrated; returns an open admin connection to it. */
export async function freshDatabase(connection: DbConnectionOptions): Promise<Connection> {
  const admin = await openAdminConnection(connection, 5000);
  await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeId(connection.database)}`);
  await admin.end();
  const migrated = await openAdminConnection(connection, 5000);
  await runMigrations(migrated, silentLogger);
  return migrated;
}

/** Connections MariaDB sees from clients using `database`, excluding the asking connection. */
export async function serverSideConnections(admin: Connection, database: string): Promise<number> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [database],
  );
  return Number(rows[0]?.['n']);
}

export async function globalStatus(admin: Connection, name: string): Promise<number> {
  const [rows] = await admin.query<RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
  return Number(rows[0]?.['Value']);
}
