import type { Connection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { migrations as defaultMigrations, type Migration } from './migrations.js';

const lockTimeoutSeconds = 60;

/** A migration that would take the budget away from replicas still running an older version. */
export class ReplicaProtocolChangeError extends Error {
  override readonly name = 'ReplicaProtocolChangeError';
  constructor(
    readonly migration: Migration,
    readonly liveClaims: number,
  ) {
    super(
      `schema version ${migration.version} (${migration.name}) changes how APP_REPLICAS=auto replicas share MySQL's ` +
        `connections, and ${liveClaims} replica(s) of an older version hold live claims: not applied, and this ` +
        'replica does not start. Stop the older replicas first (scale them to 0, or deploy with the Recreate ' +
        'strategy); their claims lapse within a lease, then start this version again.',
    );
  }
}

/** Claims not yet expired by MySQL's clock. Versions apply in order, so the claims table (version 3) exists here. */
async function liveClaims(connection: Connection): Promise<number> {
  const [[claims]] = await connection.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM replica_claims WHERE expires_at > UTC_TIMESTAMP(6)',
  );
  return Number(claims?.['n']);
}

/**
 * Applies pending migrations on one connection. A named lock makes replicas that start together take
 * turns, so each version is applied once even with many hosts. Returns the versions it applied. A version that
 * changes the replicas' protocol is refused while older replicas hold live claims (ReplicaProtocolChangeError):
 * the versions before it stay applied, and it is applied by the first start after they are gone.
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
      if (migration.changesReplicaProtocol) {
        const live = await liveClaims(connection);
        if (live > 0) throw new ReplicaProtocolChangeError(migration, live);
      }
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
