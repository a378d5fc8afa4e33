import dotenv from 'dotenv';
import { loadConfig } from '../config/load-config.js';
import { openAdminConnection } from '../db/admin-connection.js';
import { runMigrations } from '../db/run-migrations.js';
import { createLogger } from '../log/create-logger.js';

/** `npm run migrate`: apply pending schema migrations without starting the server. */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.log.level, base: { role: 'migrate' } });
  const connection = await openAdminConnection(config.db.connection, config.db.acquireTimeoutMs * 2);
  try {
    const applied = await runMigrations(connection, logger);
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'schema already up to date');
  } finally {
    await connection.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
