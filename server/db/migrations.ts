/**
 * Schema versions, applied in order, each exactly once. Append new versions; never edit an applied one.
 * Statements are idempotent as well, so a half-applied version (DDL is not transactional in MySQL) can be re-run.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'users and sessions',
    statements: [
      `CREATE TABLE IF NOT EXISTS users (
         id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
         email VARCHAR(254) NOT NULL,
         name VARCHAR(100) NOT NULL,
         password_hash VARCHAR(255) NOT NULL,
         created_at DATETIME(3) NOT NULL,
         UNIQUE KEY users_email_unique (email)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
      // Only a SHA-256 of each token is stored: a leaked table does not let anyone log in.
      `CREATE TABLE IF NOT EXISTS sessions (
         token_hash BINARY(32) NOT NULL PRIMARY KEY,
         user_id BIGINT UNSIGNED NOT NULL,
         created_at DATETIME(3) NOT NULL,
         expires_at DATETIME(3) NOT NULL,
         KEY sessions_user_id (user_id),
         KEY sessions_expires_at (expires_at),
         CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    ],
  },
  {
    version: 2,
    name: 'login throttle',
    statements: [
      // Failed logins per key (SHA-256 of account, or of account + client), shared by every worker and
      // replica. See server/auth/login-throttle.ts for the policy.
      `CREATE TABLE IF NOT EXISTS login_throttle (
         throttle_key BINARY(32) NOT NULL PRIMARY KEY,
         failures INT UNSIGNED NOT NULL,
         last_failure_at DATETIME(3) NOT NULL,
         blocked_until DATETIME(3) NULL,
         KEY login_throttle_last_failure_at (last_failure_at)
       ) ENGINE=InnoDB`,
    ],
  },
];
