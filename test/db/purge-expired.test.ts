import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { hashSessionToken, newSessionToken } from '../../server/auth/session-token.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { purgeExpired } from '../../server/db/purge-expired.js';
import { freshDatabase, silentLogger, testConnection } from '../helpers/test-database.js';

const database = 'app_test_purge';
const connection = testConnection(database);

describe('purgeExpired', () => {
  let admin: Connection;
  let pool: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
    pool = createDbPool({ connection, max: 2, maxIdle: 1, acquireTimeoutMs: 1000, idleTimeoutMs: 60_000 }, { logger: silentLogger });
  });
  after(async () => {
    await pool.end();
    await admin.end();
  });

  it('deletes expired sessions and forgotten throttle rows, in batches, and keeps the live ones', async () => {
    const now = new Date('2026-06-01T12:00:00Z');
    await admin.query("INSERT INTO users (email, name, password_hash, created_at) VALUES ('p@example.com', 'P', 'x', ?)", [now]);
    const sessions = Array.from({ length: 25 }, (_, i) => [hashSessionToken(newSessionToken()), 1, now, new Date(now.getTime() + (i < 20 ? -1000 : 3_600_000))]);
    await admin.query('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ?', [sessions]);
    const key = (n: number) => Buffer.alloc(32, n);
    const old = new Date(now.getTime() - 20 * 60_000);
    await admin.query('INSERT INTO login_throttle (throttle_key, failures, last_failure_at, blocked_until) VALUES ?', [
      [
        [key(1), 3, old, null], // forgotten: outside the window, not blocked
        [key(2), 9, old, new Date(now.getTime() + 60_000)], // still blocked: kept
        [key(3), 2, now, null], // recent: kept
      ],
    ]);
    const deleted = await purgeExpired(pool, { now, throttleWindowMs: 15 * 60_000, batch: 7 });
    assert.deepEqual(deleted, { sessions: 20, throttle: 1 });
    const [[left]] = await admin.query<RowDataPacket[]>('SELECT (SELECT COUNT(*) FROM sessions) AS s, (SELECT COUNT(*) FROM login_throttle) AS t');
    assert.deepEqual({ s: Number(left?.['s']), t: Number(left?.['t']) }, { s: 5, t: 2 });
  });
});
