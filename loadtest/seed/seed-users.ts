import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import dotenv from 'dotenv';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { loadConfig } from '../../server/config/load-config.js';
import { openAdminConnection } from '../../server/db/admin-connection.js';
import { runMigrations } from '../../server/db/run-migrations.js';
import { createLogger } from '../../server/log/create-logger.js';

/*
 * `npm run seed -- --users 10000 [--passwords 10] [--out loadtest/credentials.json]`.
 * Creates N load-test users fast: one scrypt hash per distinct password (not per user), then multi-row
 * INSERTs in batches. Re-running is safe: existing users get the new hashes, so the credentials file it
 * writes always matches the database. The file is git-ignored; it holds real passwords.
 */

interface Options {
  readonly users: number;
  readonly passwords: number;
  readonly out: string;
  readonly batch: number;
}

function parseArgs(argv: readonly string[]): Options {
  const flag = (name: string, fallback: string) => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 && argv[index + 1] !== undefined ? argv[index + 1]! : fallback;
  };
  const positive = (name: string, fallback: number, max: number) => {
    const value = Number(flag(name, String(fallback)));
    if (!Number.isInteger(value) || value < 1 || value > max) {
      process.stderr.write(`--${name} must be a whole number from 1 to ${max}\n`);
      process.exit(2);
    }
    return value;
  };
  return {
    users: positive('users', 1000, 1_000_000),
    passwords: positive('passwords', 10, 1000),
    batch: positive('batch', 1000, 10_000),
    out: resolve(flag('out', resolve(__dirname, '../../../loadtest/credentials.json'))),
  };
}

export const seedEmail = (index: number) => `user${index}@loadtest.example`;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  dotenv.config({ quiet: true });
  const config = loadConfig(process.env);
  const logger = createLogger({ level: 'warn' });
  const started = performance.now();
  const hasher = await createPasswordHasher({ cost: config.auth.passwordHashCost });
  const passwords = Array.from({ length: options.passwords }, () => `lt-${randomBytes(9).toString('base64url')}`);
  const hashes = await Promise.all(passwords.map((password) => hasher.hash(password)));
  console.log(
    `hashed ${passwords.length} distinct passwords (scrypt ln=${config.auth.passwordHashCost}) in ${Math.round(performance.now() - started)} ms`,
  );

  const connection = await openAdminConnection(config.db.connection, 5000);
  try {
    await runMigrations(connection, logger);
    const createdAt = new Date();
    for (let from = 0; from < options.users; from += options.batch) {
      const to = Math.min(options.users, from + options.batch);
      const rows = Array.from({ length: to - from }, (_, i) => {
        const index = from + i;
        return [seedEmail(index), `Load Test ${index}`, hashes[index % hashes.length]!, createdAt];
      });
      await connection.query(
        'INSERT INTO users (email, name, password_hash, created_at) VALUES ? ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), name = VALUES(name)',
        [rows],
      );
      process.stdout.write(`\rseeded ${to}/${options.users} users`);
    }
    process.stdout.write('\n');
  } finally {
    await connection.end();
  }

  const credentials = Array.from({ length: options.users }, (_, index) => ({
    email: seedEmail(index),
    password: passwords[index % passwords.length]!,
  }));
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  console.log(
    `wrote ${options.out} (${options.users} users) in ${((performance.now() - started) / 1000).toFixed(1)} s total`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`seed failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
