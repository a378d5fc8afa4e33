import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import { createLoginThrottle } from '../../server/auth/login-throttle.js';
import { createDbPool, type DbPool } from '../../server/db/create-db-pool.js';
import { freshDatabase, silentLogger, testConnection } from '../../harness/test-database.js';

const connection = testConnection('app_test_throttle_locks');
const throttleKey = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest();

describe('login throttle under concurrency (real MariaDB)', function () {
  this.timeout(60_000);
  let admin: Connection;
  let db: DbPool;
  before(async () => {
    admin = await freshDatabase(connection);
    db = createDbPool(
      { connection, max: 8, maxIdle: 8, acquireTimeoutMs: 5000, idleTimeoutMs: 60_000 },
      { logger: silentLogger },
    );
  });
  after(async () => {
    await db.end();
    await admin.end();
  });

  it('never deadlocks when one account and client reserve and succeed at the same time', async () => {
    const throttle = createLoginThrottle(db);
    const client = '192.0.2.1';
    // Both orders of the two keys, since a deadlock needs two statements locking the same two rows in opposite orders.
    const emails = ['account-first', 'pair-first'].map((wanted) => {
      for (let i = 0; ; i++) {
        const email = `locks-${i}@example.com`;
        const accountFirst =
          Buffer.compare(throttleKey('account', email), throttleKey('account+client', email, client)) < 0;
        if (accountFirst === (wanted === 'account-first')) return email;
      }
    });
    const failures: string[] = [];
    for (let round = 0; round < 150; round++) {
      for (const email of emails) {
        const outcomes = await Promise.allSettled([
          throttle.reserve(email, client),
          throttle.succeeded(email, client),
          throttle.reserve(email, client),
          throttle.blockedFor(email, client),
          throttle.succeeded(email, client),
        ]);
        for (const outcome of outcomes)
          if (outcome.status === 'rejected') failures.push(String((outcome.reason as Error).message));
      }
    }
    assert.deepEqual(failures, []);
  });
});
