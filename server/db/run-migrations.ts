import type { Connection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { migrations as defaultMigrations, type Migration } from './migrations.js';

const lockTimeoutSeconds = 60;

/**
 * Applies pending migrations on one connection. A named lock makes replicas that start together take
 * turns, so each version is applied once even with many hosts. Returns the versions it applied.
 */
export async function runMigrations(
  connection: Connection,
  logger: Logger,
  migrations: readonly Migration[] = defaultMigrations,
): Promise<number[]> {
  const [[database]] = await connection.query<RowDataPacket[]>('SELECT DATABASE() AS name');
  const lockName = `${String(database?.['name'])}.schema_migrations`;
  const [[lock]] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS acquired', [
    lockName,
    lockTimeoutSeconds,
  ]);
  if (lock?.['acquired'] !== 1)
    throw new Error(`could not take the migration lock ${lockName} within ${lockTimeoutSeconds}s`);
  try {
    await connection.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(200) NOT NULL,
      applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB`);
    const [rows] = await connection.query<RowDataPacket[]>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => Number(row['version'])));
    const done: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) await connection.query(statement);
      await connection.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [
        migration.version,
        migration.name,
      ]);
      logger.info({ version: migration.version, migration: migration.name }, 'migration applied');
      done.push(migration.version);
    }
    return done;
  } finally {
    await connection.query('SELECT RELEASE_LOCK(?)', [lockName]);
  }
}
