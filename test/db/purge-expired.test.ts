import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { hashSessionToken, newSessionToken } from '../../server/auth/session-token.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { purgeExpired } from '../../server/db/purge-expired.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

const database = 'app_test_purge';
const connection = testConnection(database);

describe('purgeExpired', () => {
  let admin: Connection;
  let pool: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
    pool = createDbPool(
      { connection, max: 2, maxIdle: 1, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  after(async () => {
    await pool.end();
    await admin.end();
  });

  it("deletes expired sessions, forgotten throttle rows and expired idempotency keys by MySQL's clock, in batches, and keeps the live ones", async () => {
    // Every time is relative to MySQL's own clock, which is the one the purge goes by.
    await admin.query(
      "INSERT INTO users (email, name, password_hash, created_at) VALUES ('p@example.com', 'P', 'x', UTC_TIMESTAMP(3))",
    );
    for (let i = 0; i < 25; i++) {
      // 20 expired a second ago; 5 expire in a minute (a host clock even a minute ahead would have deleted them).
      await admin.query(
        'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND)',
        [hashSessionToken(newSessionToken()), i < 20 ? -1 : 60],
      );
    }
    const key = (n: number) => Buffer.alloc(32, n);
    await admin.query(
      `INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until) VALUES
         (?, 3, UTC_TIMESTAMP(3) - INTERVAL 20 MINUTE, NULL),
         (?, 9, UTC_TIMESTAMP(3) - INTERVAL 20 MINUTE, UTC_TIMESTAMP(3) + INTERVAL 1 MINUTE),
         (?, 2, UTC_TIMESTAMP(3) - INTERVAL 14 MINUTE, NULL)`,
      [key(1), key(2), key(3)], // forgotten: outside the window, not blocked; still blocked: kept; recent: kept
    );
    for (let i = 0; i < 10; i++) {
      // 8 idempotency keys expired a second ago, 2 expire in a minute.
      await admin.query(
        `INSERT INTO idempotency_keys (key_hash, fingerprint, owner, status, response, claimed_until, expires_at)
         VALUES (?, ?, ?, 201, NULL, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND)`,
        [key(100 + i), key(0), Buffer.alloc(16), i < 8 ? -1 : 60],
      );
    }
    const deleted = await purgeExpired(pool, { throttleWindowMs: 15 * 60_000, batch: 7 });
    assert.deepEqual(deleted, { sessions: 20, throttle: 1, idempotencyKeys: 8 });
    const [[left]] = await admin.query<RowDataPacket[]>(
      'SELECT (SELECT COUNT(*) FROM sessions) AS s, (SELECT COUNT(*) FROM login_throttle) AS t, (SELECT COUNT(*) FROM idempotency_keys) AS k',
    );
    assert.deepEqual({ s: Number(left?.['s']), t: Number(left?.['t']), k: Number(left?.['k']) }, { s: 5, t: 2, k: 2 });
  });
});
