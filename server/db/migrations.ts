/**
 * Schema versions, applied in order, each exactly once. Append new versions; never edit an applied one.
 * Statements are idempotent as well, so a half-applied version (DDL is not transactional in MySQL) can be re-run.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
  /**
   * The version changes how APP_REPLICAS=auto replicas share the budget (the claims tables and what they mean), so it
   * is applied only while no replica holds a live claim: a replica of the older version would go on beside it with
   * the older protocol, its statements refused by the new tables and its grants dealt by rules the others no longer
   * follow (run-migrations.ts refuses instead, and the older replicas keep serving).
   */
  readonly changesReplicaProtocol?: boolean;
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
  {
    version: 3,
    name: 'replica claims',
    statements: [
      // APP_REPLICAS=auto: one row per live replica (server/live-shares/replica-claims.ts). Times are MySQL's clock, so no
      // replica's clock matters. `granted` is every connection the replica may hold, its primary's included.
      `CREATE TABLE IF NOT EXISTS replica_claims (
         replica_id CHAR(32) NOT NULL PRIMARY KEY,
         granted INT UNSIGNED NOT NULL,
         wanted INT UNSIGNED NOT NULL,
         joined_at DATETIME(6) NOT NULL,
         expires_at DATETIME(6) NOT NULL
       ) ENGINE=InnoDB`,
      // Which server thread belongs to which claim, so the threads of a lapsed replica can be killed before its
      // grant is handed to others. Keyed by thread id: after a MySQL restart reuses an id, the newest owner wins.
      `CREATE TABLE IF NOT EXISTS replica_connections (
         connection_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
         replica_id CHAR(32) NOT NULL,
         registered_at DATETIME(6) NOT NULL,
         KEY replica_connections_replica_id (replica_id)
       ) ENGINE=InnoDB`,
      // One row every grant change locks first: changes to Σ granted happen one at a time.
      `CREATE TABLE IF NOT EXISTS replica_claims_lock (id TINYINT UNSIGNED NOT NULL PRIMARY KEY) ENGINE=InnoDB`,
      `INSERT IGNORE INTO replica_claims_lock (id) VALUES (1)`,
    ],
  },
  {
    version: 4,
    name: 'replica claims judged by their observers',
    changesReplicaProtocol: true,
    statements: [
      // Registrations go with a server restart, as the thread ids they name do (ids start again from 1): one from
      // before a restart can never get a new owner's thread killed. Each names the server its thread runs on: a
      // replica of this table (after a failover, the new primary) holds rows about another server's threads. What
      // is dropped here is only registrations, which every replica's connections make again as they open.
      'DROP TABLE IF EXISTS replica_connections',
      `CREATE TABLE replica_connections (
         server_id INT UNSIGNED NOT NULL,
         connection_id BIGINT UNSIGNED NOT NULL,
         replica_id CHAR(32) NOT NULL,
         registered_at DATETIME(6) NOT NULL,
         PRIMARY KEY (server_id, connection_id),
         KEY replica_connections_replica_id (replica_id)
       ) ENGINE=MEMORY`,
      // seq: join order, oldest first when not every replica fits. retired: no renewal and no registration from
      // now on, its threads are being killed. primary_connections and pools: the claim's shape, so every replica
      // deals the others' grants in their own whole units. One statement, so it applies whole or not at all; the
      // only one of this version that cannot run twice, so it comes last.
      `ALTER TABLE replica_claims
         ADD COLUMN seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, ADD UNIQUE KEY replica_claims_seq (seq),
         ADD COLUMN retired TINYINT UNSIGNED NOT NULL DEFAULT 0,
         ADD COLUMN primary_connections INT UNSIGNED NOT NULL DEFAULT 0,
         ADD COLUMN pools INT UNSIGNED NOT NULL DEFAULT 1`,
    ],
  },
  {
    version: 5,
    name: 'idempotency keys',
    statements: [
      // One row per Idempotency-Key (server/idempotency/idempotency-store.ts). Only a SHA-256 of the key is stored,
      // and the request body only as an HMAC under a key derived from it; the outcome is encrypted under another
      // (a login's holds a session token). `status` NULL: a request holding the key is still running, until
      // `claimed_until`. Times are MySQL's clock.
      `CREATE TABLE IF NOT EXISTS idempotency_keys (
         key_hash BINARY(32) NOT NULL PRIMARY KEY,
         fingerprint BINARY(32) NOT NULL,
         owner BINARY(16) NOT NULL,
         status SMALLINT UNSIGNED NULL,
         response BLOB NULL,
         claimed_until DATETIME(3) NOT NULL,
         expires_at DATETIME(3) NOT NULL,
         KEY idempotency_keys_expires_at (expires_at)
       ) ENGINE=InnoDB`,
    ],
  },
];
